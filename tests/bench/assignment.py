"""Assignment at scale: 100,000 waiting calls over 10 queues and 1,000 handlers.

Each assignment here is one handler coming free and being given the best call it can take (one
Lua script, as in production); its latency is compared with one Redis round trip (PING) on the
same connection, measured in the same run.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.assignment import Assigner
from routing.calls import Calls
from routing.handlers import Device, HandlerProfile, Handlers, HandlerState
from routing.models import Answers, Call, Placement, Priority, Reason, Screen
from routing.rules import RuleSet, parse_rules
from tests.conftest import NUMBERS

QUEUES = 10
T0 = 1_767_225_600.0


def bench_rules() -> RuleSet:
    skills = [f"s{n}" for n in range(QUEUES)]
    return parse_rules(
        {
            "skills": skills,
            "queues": {f"q{n}": {"skills": [f"s{n}"]} for n in range(QUEUES)},
            "routes": [
                {
                    "name": "emergency",
                    "when": {"screen": ["emergency"]},
                    "queue": "q0",
                    "priority": 1,
                },
                {"name": "rest", "queue": "q1", "priority": 3},
            ],
        }
    )


@dataclass
class AssignmentResult:
    calls: int
    handlers: int
    assignments: int
    elapsed: float
    latencies: list[float]
    round_trips: list[float]

    def p(self, values: list[float], fraction: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def populate(client: redis.asyncio.Redis, calls: int, handlers: int) -> None:
    rng = random.Random(7)
    store = Calls(client, numbers=NUMBERS)
    answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)

    async def one(n: int) -> None:
        queue = n % QUEUES
        priority = Priority(rng.choice([2, 3, 3, 3, 4, 4, 5]))
        placement = Placement(
            route="rest", queue=f"q{queue}", priority=priority, skills=(f"s{queue}",)
        )
        sid = f"CA{n:032x}"
        call = Call(sid=sid, caller="+447700900123", line="+441134960000", answers=answers)
        await store.enqueue(call, placement, T0 + rng.uniform(0, 3600))

    for start in range(0, calls, 50):
        await asyncio.gather(*(one(n) for n in range(start, min(calls, start + 50))))
    staff = Handlers(client)
    for n in range(handlers):
        skills = {f"s{(n + k) % QUEUES}": 3 for k in range(3)}
        profile = HandlerProfile(
            id=f"h{n:04d}",
            name=f"H{n}",
            skills=skills,
            device=Device(kind="client", address=f"h{n:04d}"),
        )
        await staff.create(profile, T0)
        await staff.transition(profile.id, HandlerState.BUSY, T0, (HandlerState.OFFLINE,))


async def measure_assignment(
    redis_url: str, calls: int = 100_000, handlers: int = 1_000, assignments: int = 2_000
) -> AssignmentResult:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        await populate(client, calls, handlers)
        rules = bench_rules()
        assigner = Assigner(client)
        staff = Handlers(client)
        round_trips = []
        for _ in range(500):
            started = time.perf_counter()
            await client.ping()
            round_trips.append(time.perf_counter() - started)
        latencies = []
        now = T0 + 7200
        for n in range(assignments):
            handler = f"h{n % handlers:04d}"
            # The handler comes free (their previous call ended), then assignment runs.
            await staff.transition(handler, HandlerState.AVAILABLE, now, tuple(HandlerState))
            started = time.perf_counter()
            offers = await assigner.assign(rules, now, max_pairs=1)
            latencies.append(time.perf_counter() - started)
            assert len(offers) == 1, offers
            await client.hset(keys.handler(handler), "call", "")
        # Throughput of the assignment step itself (the handler state changes between are setup).
        return AssignmentResult(
            calls, handlers, assignments, sum(latencies), latencies, round_trips
        )
    finally:
        await client.aclose()
