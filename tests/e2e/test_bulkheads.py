"""Nothing a stranger does to the consoles reaches the patient's path: the webhooks and the
consoles as processes of their own, the consoles frozen or flooded with sign-ins while an
emergency caller presses 1."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import DISPATCH
from tests.e2e.stack import Stack


@pytest.fixture
def split(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, split=True).start()
    try:
        yield running
    finally:
        running.stop()


def an_emergency_reaches_dispatch(stack: Stack) -> None:
    sid = stack.sim.call(["1"])  # nobody on duty: the dispatch line at once
    [dial] = stack.sim.wait_event(sid, "dial")
    assert dial["targets"] == [DISPATCH]
    assert not stack.sim.events(sid, "error")


def test_with_the_consoles_process_frozen_an_emergency_still_reaches_dispatch(
    split: Stack,
) -> None:
    console = split.processes["console"]
    os.kill(console.pid, signal.SIGSTOP)  # as stuck as a process can be
    try:
        an_emergency_reaches_dispatch(split)
    finally:
        os.kill(console.pid, signal.SIGCONT)
    assert split.up(f"{split.console_url}/healthz")


def test_a_sign_in_flood_is_refused_quickly_and_never_delays_an_emergency(split: Stack) -> None:
    """The review's flood: many sign-ins with random usernames, one form token reused."""
    with httpx.Client(base_url=split.console_url, timeout=30) as browser:
        page = browser.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None
        token = match.group(1)

        def guess(n: int) -> int:
            form = {"csrf_token": token, "username": f"guess{n}", "password": "wrong password"}
            return browser.post("/login", data=form).status_code

        with ThreadPoolExecutor(60) as flood:
            answers = flood.map(guess, range(120))
            an_emergency_reaches_dispatch(split)
            statuses = sorted(set(answers))
    assert set(statuses) <= {401, 429}  # refused, or told to come back: never a server error
    assert 429 in statuses  # more at once than the process checks: told so at once
