"""The shared calls-per-second limit spaces outbound calls evenly, across every worker."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
import redis.asyncio

from routing.clock import VirtualClock
from workers.ratelimit import CallsPerSecond

pytestmark = pytest.mark.anyio


async def test_calls_are_spaced_one_over_the_rate_apart(aredis: redis.asyncio.Redis) -> None:
    clock = VirtualClock()
    limiter = CallsPerSecond(aredis, clock)
    waits = [await limiter.reserve(5) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    clock.advance(10)  # long idle: the next call goes at once, with no burst saved up
    assert await limiter.reserve(5) == 0.0
    assert await limiter.reserve(5) == pytest.approx(0.2)


async def test_no_second_holds_more_than_the_limit_whoever_asks(
    aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    clock = VirtualClock()
    clients = [redis.asyncio.Redis.from_url(redis_url, decode_responses=True) for _ in range(4)]
    try:
        limiters = [CallsPerSecond(client, clock) for client in clients]
        moments: list[float] = []
        for _ in range(10):  # four workers at once, ten rounds, the clock moving on a little
            waits = await asyncio.gather(*(limiter.reserve(3) for limiter in limiters))
            moments += [clock.now() + wait for wait in waits]
            clock.advance(0.05)
    finally:
        for client in clients:
            await client.aclose()
    moments.sort()
    assert len(set(moments)) == len(moments) == 40
    assert all(later - earlier >= 1 / 3 for earlier, later in pairwise(moments))
    busiest = max(sum(1 for m in moments if start <= m < start + 1) for start in moments)
    assert busiest == 3


async def test_a_fractional_rate_and_patience(aredis: redis.asyncio.Redis) -> None:
    clock = VirtualClock()
    limiter = CallsPerSecond(aredis, clock)
    assert await limiter.reserve(0.5) == 0.0
    assert await limiter.reserve(0.5) == pytest.approx(2.0)  # one every two seconds
    with pytest.raises(TimeoutError):
        await limiter.reserve(0.5, patience=3.0)  # the next is 4 s away
    clock.advance(2.0)
    assert await limiter.reserve(0.5, patience=3.0) == pytest.approx(2.0)  # nothing was taken
