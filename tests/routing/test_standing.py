"""A waiting caller's position and wait follow the real assignment order: every call the handlers
who can take theirs would be given first (emergencies and aged calls in other queues included),
and the estimate counts only those handlers."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import keys
from routing.assignment import Assigner
from routing.handlers import Handlers, HandlerState
from routing.hold import estimated_wait
from routing.queues import Queues, Standing
from routing.rules import RuleSet, default_rules
from tests.routing.test_assignment import T0, hire, queue_call, sid

SKILLS = {"general": (), "dental": ("dental",), "clinical": ("clinical",), "emergency": ()}


async def standing(client: redis.asyncio.Redis, queue: str, member: str, now: float) -> Standing:
    return await Queues(client).standing(default_rules(), queue, member, now)


@pytest.mark.anyio
async def test_an_emergency_waiting_in_another_queue_is_ahead(aredis: redis.asyncio.Redis) -> None:
    await queue_call(aredis, sid(1), "general", 3, T0)
    await queue_call(aredis, sid(2), "emergency", 1, T0 + 5)
    await hire(aredis, "h1")
    await Handlers(aredis).transition("h1", HandlerState.BUSY, T0, tuple(HandlerState))

    assert await standing(aredis, "general", sid(1), T0 + 10) == Standing(2, 1)


@pytest.mark.anyio
async def test_an_aged_call_in_another_queue_is_ahead_and_a_queue_nobody_of_mine_takes_is_not(
    aredis: redis.asyncio.Redis,
) -> None:
    now = T0 + 3600
    await queue_call(aredis, sid(1), "general", 3, now - 10)  # fresh: class 3
    await queue_call(aredis, sid(2), "clinical", 4, T0, ["clinical"])  # aged to class 2
    await queue_call(aredis, sid(3), "dental", 2, T0, ["dental"])  # nobody here takes dental
    await hire(aredis, "h1", {"clinical": 3})
    await Handlers(aredis).transition("h1", HandlerState.BUSY, T0, tuple(HandlerState))

    assert await standing(aredis, "general", sid(1), now) == Standing(2, 1)


@pytest.mark.anyio
async def test_the_wait_is_estimated_from_the_handlers_who_can_take_the_call(
    aredis: redis.asyncio.Redis,
) -> None:
    await queue_call(aredis, sid(1), "dental", 4, T0, ["dental"])
    await hire(aredis, "dentist", {"dental": 3})
    for n in range(3):
        await hire(aredis, f"h{n}")
    for handler in ("dentist", "h0", "h1", "h2"):
        await Handlers(aredis).transition(handler, HandlerState.BUSY, T0, tuple(HandlerState))

    found = await standing(aredis, "dental", sid(1), T0 + 1)

    assert found == Standing(1, 1)
    assert estimated_wait(found.position, found.skilled_on_duty, 840) == 840


@pytest.mark.anyio
async def test_with_nobody_on_duty_who_can_take_it_there_is_no_estimate(
    aredis: redis.asyncio.Redis,
) -> None:
    await queue_call(aredis, sid(1), "dental", 4, T0, ["dental"])
    await hire(aredis, "h1")
    found = await standing(aredis, "dental", sid(1), T0 + 1)
    assert found == Standing(1, 0)
    assert estimated_wait(found.position, found.skilled_on_duty, 840) is None


calls = st.lists(
    st.tuples(
        st.sampled_from(sorted(SKILLS)),
        st.integers(min_value=1, max_value=5),
        st.integers(min_value=0, max_value=7200),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda call: call[2],  # two arrivals in one millisecond share a position
)


async def serving_order(
    redis_url: str, spec: list[tuple[str, int, int]], skills: dict[str, int], rules: RuleSet
) -> tuple[list[str], dict[str, int]]:
    """Queue the calls, then let one handler take what they can, one at a time: the order they
    came in, and the position `standing` gave each call before anyone was served."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        now = T0 + 7200
        for n, (queue, priority, waited) in enumerate(spec):
            queue = "emergency" if priority == 1 else ("general" if queue == "emergency" else queue)
            # An emergency waits in the queue only within its limit.
            limit = rules.emergency.handler_limit_seconds - 1
            arrival = now - (waited * limit / 7200 if priority == 1 else waited)
            await queue_call(client, sid(n), queue, priority, arrival, SKILLS[queue])
        await hire(client, "h1", skills)
        positions = {}
        for n, (queue, priority, _) in enumerate(spec):
            queue = "emergency" if priority == 1 else ("general" if queue == "emergency" else queue)
            found = await Queues(client).standing(rules, queue, sid(n), now)
            positions[sid(n)] = found.position
        order: list[str] = []
        while True:
            offers = await Assigner(client).assign(rules, now, max_pairs=1)
            if not offers:
                return order, positions
            order.append(offers[0].member)
            await client.hset(keys.call(offers[0].member), "status", "connected")
            await Handlers(client).transition(
                "h1", HandlerState.AVAILABLE, now, (HandlerState.RESERVED,)
            )
    finally:
        await client.aclose()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=calls,
    skills=st.fixed_dictionaries({}, optional={"dental": st.just(3), "clinical": st.just(3)}),
    every=st.sampled_from([60, 300, 900]),
    steps=st.integers(min_value=0, max_value=3),
)
def test_a_callers_position_is_their_turn_with_the_handler_who_can_take_it(
    redis_url: str,
    spec: list[tuple[str, int, int]],
    skills: dict[str, int],
    every: int,
    steps: int,
) -> None:
    """With one handler on duty, the position each caller is told is exactly when that
    handler, taking what they can in the real order, gets to them."""
    document = default_rules().model_dump(mode="json")
    document["aging"] = {"every_seconds": every, "max_steps": steps}
    rules = RuleSet.model_validate(document)
    order, positions = asyncio.run(serving_order(redis_url, spec, skills, rules))
    for turn, member in enumerate(order, start=1):
        assert positions[member] == turn, (member, order, positions)
