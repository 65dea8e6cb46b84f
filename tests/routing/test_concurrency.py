"""Several processes assigning at once: no call and no handler is ever assigned twice."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import redis.asyncio

from routing.assignment import Assigner
from routing.rules import default_rules
from tests.routing.test_assignment import T0, hire, queue_call, sid

PROCESSES = 4
HANDLERS = 40
CALLS = 60


async def prepare(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        for n in range(CALLS):
            await queue_call(client, sid(n), "general", 2 + n % 3, T0 + n)
        for n in range(HANDLERS):
            await hire(client, f"h{n:02d}", available_at=T0 + n)
    finally:
        await client.aclose()


def assign_repeatedly(redis_url: str, start: Any) -> list[tuple[str, str]]:
    rules = default_rules()

    async def go() -> list[tuple[str, str]]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        assigner = Assigner(client)
        pairs: list[tuple[str, str]] = []
        try:
            await client.ping()
            start.wait()  # every process ready (imported, connected) before any begins
            for _ in range(HANDLERS):
                offers = await assigner.assign(rules, T0 + 100, max_pairs=1)
                pairs += [(offer.member, offer.handler) for offer in offers]
        finally:
            await client.aclose()
        return pairs

    return asyncio.run(go())


def test_processes_racing_to_assign_never_assign_anything_twice(redis_url: str) -> None:
    asyncio.run(prepare(redis_url))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            pending = [
                pool.apply_async(assign_repeatedly, (redis_url, start)) for _ in range(PROCESSES)
            ]
            results = [job.get(timeout=60) for job in pending]
    pairs = [pair for result in results for pair in result]
    members = [member for member, _ in pairs]
    handlers = [handler for _, handler in pairs]
    assert len(pairs) == HANDLERS
    assert len(set(members)) == len(members)
    assert len(set(handlers)) == len(handlers)
    assert sum(1 for result in results if result) > 1  # the processes really did share the work
