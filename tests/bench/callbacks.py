"""Callbacks placed per second by N workers against the shared calls-per-second limit, and the
time from a handler coming free to their callback's outbound call reaching the phone network.

The whole stack runs as processes (web, N workers, the simulated network); callbacks are booked
through the Callbacks store as the IVR books them; handlers come free through the API.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import redis.asyncio

from prompts.catalogue import Locale
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.models import Answers, Call, Placement, Priority, Reason, Screen, case_id_for
from routing.rules import default_rules
from tests.conftest import NUMBERS
from tests.e2e.stack import BIN, Stack


@dataclass
class CallbackResult:
    workers: int
    limit: float
    placed_at: list[float]  # when the phone network received each call, by its own clock

    @property
    def per_second(self) -> float:
        """The rate from the first call to the last (the first slot is free at once)."""
        moments = sorted(self.placed_at)
        elapsed = moments[-1] - moments[0] if len(moments) > 1 else 0.0
        return (len(moments) - 1) / elapsed if elapsed else 0.0

    @property
    def closest(self) -> float:
        """The shortest time between two calls reaching the network."""
        moments = sorted(self.placed_at)
        return min((b - a for a, b in pairwise(moments)), default=0.0)

    @property
    def busiest_second(self) -> int:
        """The most calls in any one second, wherever it starts."""
        return max(
            (sum(1 for m in self.placed_at if start <= m < start + 1) for start in self.placed_at),
            default=0,
        )


async def book(redis_url: str, count: int) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        calls, callbacks = Calls(client, numbers=NUMBERS), Callbacks(client, numbers=NUMBERS)
        answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
        placement = Placement(route="medical", queue="general", priority=Priority.STANDARD)
        rules = default_rules().callbacks
        for n in range(count):
            sid = f"CA{n:032x}"
            number = f"+4477009{n:05d}"
            call = Call(sid=sid, caller=number, line="+441134960000", answers=answers)
            await calls.enqueue(call, placement, time.time())
            await callbacks.convert(
                sid, case_id_for(sid), number, number, placement, rules, time.time()
            )
    finally:
        await client.aclose()


def outbound(stack: Stack) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = stack.sim.http.get("/sim/calls").json()["calls"]
    return [call for call in calls if call["direction"] == "outbound-api"]


def measure_latency(redis_url: str, logs: Path, count: int = 10) -> list[float]:
    """One handler at a time comes free; how long until their callback's call is placed."""
    stack = Stack(redis_url, logs, with_cron=True).start()  # the agenda places what waits
    try:
        asyncio.run(book(redis_url, count))
        latencies = []
        for n in range(count):
            stack.handler(f"h{n:03d}", available=False)
            stack.sim.party(f"client:h{n:03d}", answer="answer", ring_seconds=1, talk_seconds=600)
            time.sleep(1.1)  # a fresh calls-per-second slot, so the limit adds no wait
            freed = time.perf_counter()
            stack.state(f"h{n:03d}", "available")
            while len(outbound(stack)) < n + 1:
                time.sleep(0.002)
            latencies.append(time.perf_counter() - freed)
        return latencies
    finally:
        stack.stop()


def measure_callbacks(
    redis_url: str, logs: Path, workers: int, limit: float, count: int
) -> CallbackResult:
    stack = Stack(redis_url, logs, with_cron=True).start()  # the agenda places what waits
    try:
        rules = stack.api.get("/api/v1/rules").json()["rules"]
        rules["callbacks"]["calls_per_second"] = limit
        version = stack.api.post("/api/v1/rules/versions", json={"rules": rules}).json()["number"]
        stack.api.post(f"/api/v1/rules/versions/{version}/activate", json={})
        for n in range(1, workers):
            stack.spawn(f"worker-{n}", str(BIN / "lifeline"), "worker")
        asyncio.run(book(redis_url, count))
        for n in range(count):
            stack.handler(f"h{n:03d}", available=False)
            # Handlers answer and stay on the line, so each callback is placed exactly once.
            stack.sim.party(f"client:h{n:03d}", answer="answer", ring_seconds=1, talk_seconds=600)
        for n in range(count):
            stack.state(f"h{n:03d}", "available")
        deadline = time.monotonic() + count / limit + 60
        calls = outbound(stack)
        while len(calls) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            calls = outbound(stack)
        placed_at = [datetime.fromisoformat(str(call["created_at"])).timestamp() for call in calls]
        return CallbackResult(workers, limit, placed_at)
    finally:
        stack.stop()
