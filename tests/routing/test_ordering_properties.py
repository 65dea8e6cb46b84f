"""Ordering invariants, checked by hypothesis against the real assignment script in Redis."""

from __future__ import annotations

import asyncio
import math

import redis
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import keys
from routing.assignment import Assigner
from routing.handlers import HandlerState
from routing.offers import Offers, Release
from routing.rules import RuleSet, default_rules
from tests.routing.test_assignment import T0, hire, queue_call, sid

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

calls = st.lists(
    st.tuples(
        st.sampled_from(["general", "emergency"]),
        st.integers(min_value=1, max_value=5),
        st.floats(min_value=0, max_value=7200, allow_nan=False),
    ),
    min_size=1,
    max_size=25,
)


def effective(priority: int, waited: float, rules: RuleSet) -> int:
    """The specification of guarded aging, independent of the Lua that implements it."""
    if priority == 1:
        return 1
    steps = min(rules.aging.max_steps, math.floor(waited / rules.aging.every_seconds))
    return max(2, priority - steps)


async def serve_one_by_one(redis_url: str, spec: list[tuple[str, int, float]]) -> list[str]:
    """Queue the calls, then let one handler take them one at a time; the order they came."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        for n, (queue, priority, offset) in enumerate(spec):
            queue = "emergency" if priority == 1 else ("general" if queue == "emergency" else queue)
            await queue_call(client, sid(n), queue, priority, T0 + offset)
        await hire(client, "h1")
        order = []
        now = T0 + 7200
        rules = default_rules()
        for _ in spec:
            [offer] = await Assigner(client).assign(rules, now, max_pairs=1)
            order.append(offer.member)
            await client.hset(keys.handler("h1"), "state", "available")
            await client.zrem(keys.handler_state("reserved"), "h1")
            await client.zadd(keys.handler_state("available"), {"h1": now})
        return order
    finally:
        await client.aclose()


@PROPERTY_SETTINGS
@given(spec=calls)
def test_calls_are_served_by_effective_priority_then_arrival_and_p1_always_first(
    redis_url: str, spec: list[tuple[str, int, float]]
) -> None:
    order = asyncio.run(serve_one_by_one(redis_url, spec))
    rules = default_rules()
    now = T0 + 7200

    def key(n: int) -> tuple[int, int, int]:
        # Arrival is kept to the millisecond; on a tie the higher class goes first, then the
        # CallSid decides.
        _, priority, offset = spec[n]
        arrival_ms = int((T0 + offset) * 1000)
        return (effective(priority, now - arrival_ms / 1000, rules), arrival_ms, priority)

    expected = sorted(range(len(spec)), key=lambda n: (key(n), n))
    assert [int(member[2:], 16) for member in order] == expected
    served_p1 = [spec[int(member[2:], 16)][1] == 1 for member in order]
    assert served_p1 == sorted(served_p1, reverse=True)  # every P1 before anyone else


@PROPERTY_SETTINGS
@given(
    waited=st.floats(min_value=0, max_value=10**6, allow_nan=False),
    priority=st.integers(min_value=2, max_value=5),
)
def test_aging_never_reaches_priority_1_nor_passes_its_ceiling(
    waited: float, priority: int
) -> None:
    rules = default_rules()
    level = effective(priority, waited, rules)
    assert 2 <= level <= priority
    assert priority - level <= rules.aging.max_steps


async def reserve_then_release(
    redis_url: str, first: list[tuple[int, float]], later: list[tuple[int, float]]
) -> tuple[float, float | None, list[str], list[tuple[int, float]]]:
    """Queue `first`, let a handler take the best, queue `later`, then the offer is missed."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        everyone = first + later
        for n, (priority, offset) in enumerate(first):
            await queue_call(client, sid(n), "general", priority, T0 + offset)
        await hire(client, "h1")
        rules = default_rules().model_copy(
            update={"aging": default_rules().aging.model_copy(update={"max_steps": 0})}
        )
        [offer] = await Assigner(client).assign(rules, T0 + 3600, max_pairs=1)
        original = float(await client.hget(keys.call(offer.member), "score") or 0)
        for n, (priority, offset) in enumerate(later, start=len(first)):
            await queue_call(client, sid(n), "general", priority, T0 + offset)
        assert await Offers(client).release(offer.member, "h1", 1, T0 + 3700, Release.MISSED, rules)
        after = await client.zscore(keys.queue("general"), offer.member)
        order = [str(m) for m in await client.zrange(keys.queue("general"), 0, -1)]
        assert await client.hget(keys.handler("h1"), "state") == HandlerState.BREAK
        return original, after, order, everyone
    finally:
        await client.aclose()


entries = st.lists(
    st.tuples(
        st.integers(min_value=2, max_value=5),
        st.floats(min_value=0, max_value=3600, allow_nan=False),
    ),
    min_size=1,
    max_size=10,
)


@PROPERTY_SETTINGS
@given(first=entries, later=entries)
def test_a_caller_put_back_after_a_missed_offer_keeps_their_place(
    redis_url: str, first: list[tuple[int, float]], later: list[tuple[int, float]]
) -> None:
    original, after, order, everyone = asyncio.run(reserve_then_release(redis_url, first, later))
    assert after == original
    expected = sorted(
        range(len(everyone)),
        key=lambda n: (everyone[n][0], int((T0 + everyone[n][1]) * 1000), sid(n)),
    )
    assert [int(member[2:], 16) for member in order] == expected
