"""Sending a caller on, beside putting one through: how long from a handler's request to the
caller being on their way (their next TwiML: the clinicians' queue), against how long from a
handler coming free to their phone being dialled for the caller who waits. Both go the same way
(a request, a job, a REST redirect, a webhook), through the same processes and the sim."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from console.tokens import Role
from tests.e2e.stack import Stack


@dataclass
class OnwardResult:
    connect: list[float]  # a handler comes free -> the waiting caller's Dial rings them
    send_on: list[float]  # the handler sends the caller on -> the caller is in the queue


def wait_event(stack: Stack, sid: str, kind: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(stack.sim.events(sid, kind)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {kind} event on {sid}")
        time.sleep(0.002)


def measure_onward(redis_url: str, logs: Path, count: int = 10) -> OnwardResult:
    stack = Stack(redis_url, logs).start()
    result = OnwardResult([], [])
    try:
        for n in range(count):
            handler = f"h{n:03d}"
            stack.handler(handler, available=False)
            stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=0, talk_seconds=600)
            token = stack.token(Role.HANDLER, handler)
            sid = stack.sim.call(["2", "1"], caller=f"+4477009{n:05d}")
            wait_event(stack, sid, "enqueue", 1)

            freed = time.perf_counter()
            stack.state(handler, "available")
            wait_event(stack, sid, "dial", 1)
            result.connect.append(time.perf_counter() - freed)

            wait_event(stack, sid, "bridged", 1)
            while stack.handler_now(handler)["state"] != "busy":
                time.sleep(0.002)
            asked = time.perf_counter()
            sent = httpx.post(
                f"{stack.console_url}/api/v1/handlers/{handler}/send-on",
                json={"to": "clinician", "urgency": "within_hour"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert sent.status_code == 202, sent.text
            wait_event(stack, sid, "enqueue", 2)
            result.send_on.append(time.perf_counter() - asked)
            stack.sim.hang_up(sid)
        return result
    finally:
        stack.stop()
