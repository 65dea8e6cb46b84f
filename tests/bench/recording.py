"""Recording and the feedback question, against neither: the webhooks a caller put through to a
handler goes through (the connect, whose `<Dial>` carries the recording's attributes, and the
dial's action when the handler hangs up, which asks the feedback question) as the simulated
network timed them, with recording and feedback on (every caller asked) and with both off, each
on a stack of its own, off and on taking turns in the same run (so that what else the machine is
doing falls on both alike); and the recording status callbacks themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.stack import Stack

KINDS = ("redirect", "dial-action", "recording-status")


@dataclass
class Timings:
    """Milliseconds each kind of webhook took, as the network measured it (request to answer)."""

    by_kind: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    asked: int = 0
    recorded: int = 0


def _ask_everyone(stack: Stack) -> None:
    rules = stack.api.get("/api/v1/rules").json()["rules"]
    rules["feedback"] = {"share": 1}
    version = stack.api.post("/api/v1/rules/versions", json={"rules": rules}).json()
    stack.api.post(
        f"/api/v1/rules/versions/{version['number']}/activate", json={"reason": "bench"}
    ).raise_for_status()


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _told(stack: Stack, sid: str) -> bool:
    return any(e.get("kind") == "recording-status" for e in stack.sim.events(sid, "request"))


def measure(redis_url: str, logs: Path, on: bool, timings: Timings, count: int = 20) -> None:
    """`count` callers put through and hung up on, their webhooks' times added to `timings`."""
    env = {} if on else {"RECORD_CALLS": "false"}
    stack = Stack(redis_url, logs, env=env).start()
    try:
        if on:
            _ask_everyone(stack)
        for n in range(count):
            handler = f"h{n:03d}"
            stack.handler(handler, available=False)
            stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=0, talk_seconds=2)
            sid = stack.sim.call(["2", "1", "1"], caller=f"+4477009{n:05d}")
            _wait(lambda: bool(stack.sim.events(sid, "enqueue")), "the caller to queue")  # noqa: B023
            stack.state(handler, "available")
            stack.sim.wait_ended(sid)
            if on:
                _wait(lambda: _told(stack, sid), "the recording status callback")  # noqa: B023
            for event in stack.sim.events(sid, "request"):
                if event.get("kind") in timings.by_kind:
                    timings.by_kind[str(event["kind"])].append(float(event["ms"]))
            said = [str(e["text"]) for e in stack.sim.events(sid, "say")]
            timings.asked += any(text.startswith("Before you go") for text in said)
            timings.recorded += bool(stack.sim.events(sid, "recording"))
    finally:
        stack.stop()
