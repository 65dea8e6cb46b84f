"""The shared calls-per-second limit gives each call a moment, evenly spaced, across every worker;
a call asking again keeps the moment it was given."""

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
    moments = [await limiter.slot(f"call-{n}", 5) for n in range(6)]
    assert [moment - clock.now() for moment in moments] == pytest.approx(
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    )
    clock.advance(10)  # long idle: the next call goes at once, with no burst saved up
    assert await limiter.slot("call-6", 5) == clock.now()
    assert await limiter.slot("call-7", 5) == pytest.approx(clock.now() + 0.2)


async def test_a_call_asking_again_keeps_its_moment_and_takes_no_other(
    aredis: redis.asyncio.Redis,
) -> None:
    clock = VirtualClock()
    limiter = CallsPerSecond(aredis, clock)
    await limiter.slot("first", 1)
    mine = await limiter.slot("second", 1)
    clock.advance(0.5)
    assert await limiter.slot("second", 1) == mine  # its job again, still early
    clock.advance(1)
    assert await limiter.slot("second", 1) == mine  # its job again, its moment passed
    assert await limiter.slot("third", 1) == pytest.approx(mine + 1)  # nothing taken between
    await limiter.forget("second")
    assert await limiter.slot("second", 1) == pytest.approx(mine + 2)  # a new try: a new moment


async def test_no_second_holds_more_than_the_limit_whoever_asks(
    aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    clock = VirtualClock()
    clients = [redis.asyncio.Redis.from_url(redis_url, decode_responses=True) for _ in range(4)]
    try:
        limiters = [CallsPerSecond(client, clock) for client in clients]
        moments: list[float] = []
        for round_ in range(10):  # four workers at once, ten rounds, the clock moving on a little
            moments += await asyncio.gather(
                *(limiter.slot(f"{round_}-{n}", 3) for n, limiter in enumerate(limiters))
            )
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
    assert await limiter.slot("a", 0.5) == clock.now()
    assert await limiter.slot("b", 0.5) == pytest.approx(clock.now() + 2.0)  # one every 2 s
    with pytest.raises(TimeoutError):
        await limiter.slot("c", 0.5, patience=3.0)  # the next is 4 s away
    clock.advance(2.0)
    assert await limiter.slot("c", 0.5, patience=3.0) == pytest.approx(clock.now() + 2.0)
