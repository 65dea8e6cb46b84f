"""One clinical-system stub per session over real HTTP, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sim.clinical.stub import StubControl, running_stub


@pytest.fixture(scope="session")
def _stub_server() -> Iterator[StubControl]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def stub(_stub_server: StubControl) -> StubControl:
    _stub_server.reset()
    return _stub_server
