"""A handler whose console goes quiet goes offline by itself, and the call offered to them goes
back to its place: with the cron sweep, workers and the simulated network all running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.tokens import Role
from tests.e2e.stack import Stack


@pytest.fixture
def swept_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, with_cron=True).start()
    try:
        rules = running.api.get("/api/v1/rules").json()["rules"]
        rules["offers"]["heartbeat_timeout_seconds"] = 5
        number = running.api.post("/api/v1/rules/versions", json={"rules": rules}).json()["number"]
        assert (
            running.api.post(f"/api/v1/rules/versions/{number}/activate", json={}).status_code
            == 200
        )
        yield running
    finally:
        running.stop()


def test_a_silent_console_takes_its_handler_offline_and_gives_the_call_back(
    swept_stack: Stack,
) -> None:
    stack = swept_stack
    stack.handler("h1")
    token = stack.token(Role.HANDLER, "h1")
    beat = stack.api.post(
        "/api/v1/handlers/h1/heartbeat", headers={"Authorization": f"Bearer {token}"}
    )
    assert beat.status_code == 200
    stack.sim.party("client:h1", answer="no-answer")  # their phone rings out, unanswered
    sid = stack.sim.call(["2", "1"])
    stack.sim.wait_event(sid, "dial")

    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "offline", "h1 to go offline", 30)
    assert stack.handler_now("h1")["reason"] == "heartbeat lost"
    queues = stack.api.get("/api/v1/queues").json()
    general = next(q for q in queues["queues"] if q["queue"] == "general")
    assert general["waiting"] == 1
    assert stack.sim.record(sid)["ended"] is False  # the caller is still holding, in their place
