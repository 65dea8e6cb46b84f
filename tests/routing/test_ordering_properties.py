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
from routing.handlers import Handlers, HandlerState
from routing.offers import Offers, Release
from routing.rules import Aging, RuleSet, default_rules
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


def queue_for(priority: int) -> str:
    return "emergency" if priority == 1 else "general"


def with_aging(aging: Aging) -> RuleSet:
    return default_rules().model_copy(update={"aging": aging})


async def take_one_at_a_time(
    client: redis.asyncio.Redis, rules: RuleSet, now: float, count: int
) -> list[str]:
    """One handler answers the waiting calls one at a time; the order they came."""
    await hire(client, "h1")
    assigner, offers, handlers = Assigner(client), Offers(client), Handlers(client)
    order = []
    for _ in range(count):
        [offer] = await assigner.assign(rules, now, max_pairs=1)
        assert await offers.answered(offer.member, offer.handler, offer.offer, now)
        await handlers.transition("h1", HandlerState.AVAILABLE, now, (HandlerState.BUSY,))
        order.append(offer.member)
    return order


def arrival(priority: int, offset: float) -> float:
    """A call's arrival after T0. An emergency waits in the queue only within its limit (then
    the dispatch line takes it and assignment passes it by), so theirs are within it of now."""
    if priority != 1:
        return offset
    return 7200 - offset % (default_rules().emergency.handler_limit_seconds - 1)


async def serve_one_by_one(redis_url: str, spec: list[tuple[str, int, float]]) -> list[str]:
    """Queue the calls, then let one handler take them one at a time; the order they came."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        for n, (queue, priority, offset) in enumerate(spec):
            queue = "emergency" if priority == 1 else ("general" if queue == "emergency" else queue)
            await queue_call(client, sid(n), queue, priority, T0 + arrival(priority, offset))
        return await take_one_at_a_time(client, default_rules(), T0 + 7200, len(spec))
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
        arrival_ms = int((T0 + arrival(priority, offset)) * 1000)
        return (effective(priority, now - arrival_ms / 1000, rules), arrival_ms, priority)

    expected = sorted(range(len(spec)), key=lambda n: (key(n), n))
    assert [int(member[2:], 16) for member in order] == expected
    served_p1 = [spec[int(member[2:], 16)][1] == 1 for member in order]
    assert served_p1 == sorted(served_p1, reverse=True)  # every P1 before anyone else


AGING_NOW = T0 + 86_400  # whole seconds: every waiting time below is whole milliseconds


@st.composite
def waits(draw: st.DrawFn) -> tuple[Aging, list[int]]:
    """Aging parameters across their range, and waits in milliseconds: a millisecond short of
    a step, on it, and anywhere."""
    aging = Aging(
        every_seconds=draw(st.integers(min_value=30, max_value=3600)),
        max_steps=draw(st.integers(min_value=0, max_value=3)),
    )
    step_ms = aging.every_seconds * 1000
    edge = draw(st.integers(min_value=1, max_value=4)) * step_ms
    return aging, [edge - 1, edge, draw(st.integers(min_value=1, max_value=6 * step_ms))]


async def place_among_fresh_calls(
    redis_url: str, priority: int, waited_ms: int, rules: RuleSet
) -> tuple[int, int]:
    """Call X of class `priority` has waited `waited_ms`; a call of every class 1..5 has just
    come. One handler takes them one at a time: fresh calls of a better class than X's effective
    one go before X, and X (longer waiting) before the rest, so X's place (1-based) is the
    effective class the script gave it. Returns that, and how long X had waited to the
    millisecond, as kept in its score."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        x = sid(0)
        if priority == 1:  # an emergency waits in the queue only within its limit
            waited_ms %= (rules.emergency.handler_limit_seconds - 1) * 1000
            waited_ms += 1
        await queue_call(client, x, queue_for(priority), priority, AGING_NOW - waited_ms / 1000)
        score = await client.zscore(keys.queue(queue_for(priority)), x)
        assert score is not None
        kept_ms = round(AGING_NOW * 1000) - (int(score) - priority * 10**13)
        for fresh in range(1, 6):
            await queue_call(client, sid(fresh), queue_for(fresh), fresh, AGING_NOW)
        order = await take_one_at_a_time(client, rules, AGING_NOW, 6)
        return order.index(x) + 1, kept_ms
    finally:
        await client.aclose()


@PROPERTY_SETTINGS
@given(priority=st.integers(min_value=1, max_value=5), wait=waits())
def test_aging_never_reaches_priority_1_nor_passes_its_ceiling(
    redis_url: str, priority: int, wait: tuple[Aging, list[int]]
) -> None:
    aging, waits_ms = wait
    rules = with_aging(aging)
    for waited_ms in waits_ms:
        level, kept_ms = asyncio.run(place_among_fresh_calls(redis_url, priority, waited_ms, rules))
        assert kept_ms >= 1  # X arrived before the fresh calls, so a tie goes to X
        if priority == 1:
            assert level == 1
        else:
            assert 2 <= level <= priority
        assert priority - level <= aging.max_steps
        steps = min(aging.max_steps, kept_ms // (aging.every_seconds * 1000))
        assert level == (1 if priority == 1 else max(2, priority - steps)), waited_ms


async def reserve_then_release(
    redis_url: str, first: list[tuple[int, float]], later: list[tuple[int, float]]
) -> tuple[float | None, float | None, list[str], list[tuple[int, float]]]:
    """Queue `first`, let a handler take the best, queue `later` and two callers of the same
    class who came after the one taken (a millisecond after, and as the offer fails), then the
    offer is missed. Returns the score the member was queued at and the one it is back at, the
    queue in order, and everyone's (priority, arrival offset)."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        for n, (priority, offset) in enumerate(first):
            await queue_call(client, sid(n), "general", priority, T0 + offset)
        queue = keys.queue("general")
        queued = {sid(n): await client.zscore(queue, sid(n)) for n in range(len(first))}
        await hire(client, "h1")
        rules = with_aging(Aging(max_steps=0))
        [offer] = await Assigner(client).assign(rules, T0 + 3600, max_pairs=1)
        taken = first[int(offer.member[2:], 16)]
        released_at = T0 + 3700
        behind = [(taken[0], taken[1] + 0.001), (taken[0], released_at - T0)]
        everyone = first + later + behind
        for n, (priority, offset) in enumerate(later + behind, start=len(first)):
            await queue_call(client, sid(n), "general", priority, T0 + offset)
        assert await Offers(client).release(
            offer.member, "h1", 1, released_at, Release.MISSED, rules
        )
        after = await client.zscore(queue, offer.member)
        order = [str(m) for m in await client.zrange(queue, 0, -1)]
        assert await client.hget(keys.handler("h1"), "state") == HandlerState.BREAK
        return queued[offer.member], after, order, everyone
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
    queued_at, after, order, everyone = asyncio.run(reserve_then_release(redis_url, first, later))
    assert queued_at is not None
    assert after == queued_at  # the very score it was queued at: not the back, nor the front
    expected = sorted(
        range(len(everyone)),
        key=lambda n: (everyone[n][0], int((T0 + everyone[n][1]) * 1000), sid(n)),
    )
    assert [int(member[2:], 16) for member in order] == expected
