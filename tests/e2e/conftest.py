"""The running stack, started once per test (processes are cheap next to what they prove)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()
