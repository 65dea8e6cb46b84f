"""The tests' own HTTP servers: one whose start times out does not go on to serve."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette

from tests.sim.servers import free_port, serve


@asynccontextmanager
async def slow_to_start(app: Starlette) -> AsyncIterator[None]:
    await asyncio.sleep(1.0)
    yield


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_server_that_does_not_start_in_time_is_stopped_before_the_error() -> None:
    port = free_port()
    with (
        pytest.raises(RuntimeError, match=f"server on port {port} did not start"),
        serve(Starlette(lifespan=slow_to_start), port, deadline=0.2),
    ):
        pass

    assert [t.name for t in threading.enumerate() if t.name == f"uvicorn-{port}"] == []
    assert not listening(port)
