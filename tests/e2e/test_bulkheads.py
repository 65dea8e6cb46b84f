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
            # A client of each guess's own, with the session's cookie: one client's sockets
            # shared by sixty threads can be closed under one another (EBADF), the client's
            # trouble, not the server's.
            form = {"csrf_token": token, "username": f"guess{n}", "password": "wrong password"}
            with httpx.Client(
                base_url=split.console_url, timeout=30, cookies=browser.cookies
            ) as own:
                return own.post("/login", data=form).status_code

        with ThreadPoolExecutor(60) as flood:
            answers = flood.map(guess, range(120))
            an_emergency_reaches_dispatch(split)
            statuses = sorted(set(answers))
    assert set(statuses) <= {401, 429}  # refused, or told to come back: never a server error
    assert 429 in statuses  # more at once than the process checks: told so at once


def test_with_the_consoles_process_frozen_a_handler_coming_free_is_put_through(
    split: Stack,
) -> None:
    """A handler's "available" is the moment a waiting caller is put through: it goes to the
    handlers' own process, which nothing on the supervisors' side or a stranger's can hold up."""
    split.handler("h1", available=False)
    split.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=20)
    sid = split.sim.call(["2", "1"])
    split.sim.wait_event(sid, "enqueue")
    console = split.processes["console"]
    os.kill(console.pid, signal.SIGSTOP)
    try:
        changed = split.floor_api.put("/api/v1/handlers/h1/state", json={"state": "available"})
        assert changed.status_code == 200, changed.text
        split.sim.wait_event(sid, "bridged")
    finally:
        os.kill(console.pid, signal.SIGCONT)
    [dial] = split.sim.events(sid, "dial")
    assert dial["targets"] == ["client:h1"]


def test_the_handlers_process_serves_only_the_handlers_own_paths(split: Stack) -> None:
    with httpx.Client(base_url=split.floor_url, timeout=10) as browser:
        page = browser.get("/console/handler", headers={"accept": "text/html"})
        assert page.status_code == 303  # to sign in, which is the console's
        assert page.headers["location"].startswith("/login")
        for path in ("/login", "/console/wallboard", "/console/handlers", "/api/v1/handlers"):
            assert browser.get(path).status_code == 404, path
        assert browser.post("/twilio/voice").status_code == 404
    assert split.floor_api.get("/api/v1/handlers/nobody").status_code == 404
    assert split.floor_api.get("/api/v1/rules").status_code == 404
