"""For the jobs' tests: the clinical stub over real HTTP, a local SMTP sink, and a job's runtime
pointing at both, on a virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email.message import Message
from email.parser import BytesParser
from typing import Any

import pytest
import redis.asyncio
from aiosmtpd.controller import Controller

from lifeline.redis_server import free_port
from routing.clock import VirtualClock
from tests.conftest import make_settings
from tests.sim.clinical.stub import StubControl, running_stub
from workers.runtime import Runtime


class Sink:
    """An SMTP server that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append(BytesParser().parsebytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubControl]:
    with running_stub() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
async def rt(redis_url: str, stub: StubControl, smtp: tuple[Sink, int]) -> AsyncIterator[Runtime]:
    """Replaying 100 entries a second (the most allowed): a small journal in one batch."""
    stub.reset()
    settings = make_settings(
        redis_url,
        clinical_fhir_base_url=stub.fhir_base_url,
        contingency_email_to="receiving@service.example",
        smtp_url=f"smtp+insecure://127.0.0.1:{smtp[1]}",
        replay_per_second=100,
    )
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield Runtime(settings=settings, redis=client, clock=VirtualClock())
    await client.aclose()
