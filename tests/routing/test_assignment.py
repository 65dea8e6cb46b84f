"""Assignment: who gets which call, checked on real Redis, with a virtual clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.assignment import Assigner
from routing.calls import Calls
from routing.clock import VirtualClock
from routing.handlers import Device, HandlerProfile, Handlers, HandlerState
from routing.models import Answers, Call, Placement, Priority, Reason, Screen
from routing.routing_table import Strategy
from routing.rules import RuleSet, default_rules
from tests.conftest import NUMBERS

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0


async def hire(
    client: redis.asyncio.Redis,
    handler_id: str,
    skills: dict[str, int] | None = None,
    available_at: float = T0,
) -> None:
    handlers = Handlers(client)
    profile = HandlerProfile(
        id=handler_id,
        name=handler_id,
        skills=skills or {},
        device=Device(kind="client", address=handler_id),
    )
    await handlers.create(profile, T0)
    await handlers.choose(handler_id, HandlerState.AVAILABLE, available_at)


async def queue_call(
    client: redis.asyncio.Redis,
    sid: str,
    queue: str,
    priority: int,
    arrival: float,
    skills: Sequence[str] = (),
) -> None:
    answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
    placement = Placement(
        route="test", queue=queue, priority=Priority(priority), skills=tuple(skills)
    )
    call = Call(sid=sid, caller="+447700900123", line="+441134960000", answers=answers)
    await Calls(client, numbers=NUMBERS).enqueue(call, placement, arrival)


def sid(n: int) -> str:
    return f"CA{n:032x}"


async def status(client: redis.asyncio.Redis, call_sid: str) -> str:
    return str(await client.hget(keys.call(call_sid), "status"))


async def test_a_free_handler_gets_the_highest_priority_then_the_longest_waiting(
    aredis: redis.asyncio.Redis,
) -> None:
    await queue_call(aredis, sid(1), "general", 3, T0)
    await queue_call(aredis, sid(2), "general", 2, T0 + 10)
    await queue_call(aredis, sid(3), "general", 2, T0 + 5)
    await hire(aredis, "h1")

    [offer] = await Assigner(aredis).assign(default_rules(), T0 + 20)

    assert (offer.member, offer.handler, offer.offer) == (sid(3), "h1", 1)
    assert await status(aredis, sid(3)) == "reserved"
    assert await aredis.zrange(keys.queue("general"), 0, -1) == [sid(2), sid(1)]
    handler = await Handlers(aredis).get("h1")
    assert (handler.state, handler.call) == (HandlerState.RESERVED, sid(3))


async def test_an_emergency_in_any_queue_goes_first(aredis: redis.asyncio.Redis) -> None:
    await queue_call(aredis, sid(1), "general", 2, T0 - 3600)
    await queue_call(aredis, sid(2), "emergency", 1, T0)
    await hire(aredis, "h1")
    [offer] = await Assigner(aredis).assign(default_rules(), T0 + 1)
    assert offer.member == sid(2)


async def test_aging_lets_a_long_waiter_past_newer_callers_but_never_past_an_emergency(
    aredis: redis.asyncio.Redis,
) -> None:
    rules = default_rules()  # one class per 300 s, at most 2 classes, never to priority 1
    now = T0 + 3600
    await queue_call(aredis, sid(1), "general", 4, T0)  # aged to 2
    await queue_call(aredis, sid(2), "general", 3, now - 10)  # fresh 3
    await queue_call(aredis, sid(3), "general", 2, now - 5)  # fresh 2, but arrived later
    await queue_call(aredis, sid(4), "emergency", 1, now)
    for n in range(1, 5):
        await hire(aredis, f"h{n}", available_at=T0 + n)

    offers = await Assigner(aredis).assign(rules, now)

    assert [offer.member for offer in offers] == [sid(4), sid(1), sid(3), sid(2)]
    assert [offer.handler for offer in offers] == ["h1", "h2", "h3", "h4"]  # longest idle first


async def test_skills_and_proficiency_decide_who_can_take_a_queue(
    aredis: redis.asyncio.Redis,
) -> None:
    doc = default_rules().model_dump(mode="json")
    doc["queues"]["mental_health"]["min_proficiency"] = 3
    rules = RuleSet.model_validate(doc)
    await queue_call(aredis, sid(1), "mental_health", 3, T0, ["mental_health"])
    await hire(aredis, "novice", {"mental_health": 2}, available_at=T0 - 100)
    await hire(aredis, "general-only", available_at=T0 - 50)

    assert await Assigner(aredis).assign(rules, T0 + 1) == []

    await hire(aredis, "expert", {"mental_health": 4}, available_at=T0)
    [offer] = await Assigner(aredis).assign(rules, T0 + 2)
    assert offer.handler == "expert"


async def test_a_blocked_queue_does_not_hold_up_others(aredis: redis.asyncio.Redis) -> None:
    await queue_call(aredis, sid(1), "dental", 2, T0, ["dental"])
    await queue_call(aredis, sid(2), "general", 4, T0 + 10)
    await hire(aredis, "h1")
    [offer] = await Assigner(aredis).assign(default_rules(), T0 + 20)
    assert offer.member == sid(2)
    assert await status(aredis, sid(1)) == "queued"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.LONGEST_IDLE, "idle-longest"),
        (Strategy.ROUND_ROBIN, "offered-longest-ago"),
        (Strategy.FEWEST_CALLS, "fewest-calls"),
    ],
)
async def test_each_queue_strategy_picks_its_handler(
    aredis: redis.asyncio.Redis, strategy: Strategy, expected: str
) -> None:
    doc = default_rules().model_dump(mode="json")
    doc["queues"]["general"]["strategy"] = strategy.value
    rules = RuleSet.model_validate(doc)
    await hire(aredis, "idle-longest", available_at=T0 - 300)
    await hire(aredis, "offered-longest-ago", available_at=T0 - 200)
    await hire(aredis, "fewest-calls", available_at=T0 - 100)
    await aredis.hset(keys.handler("idle-longest"), mapping={"last_offer": T0 - 50, "calls": 9})
    await aredis.hset(
        keys.handler("offered-longest-ago"), mapping={"last_offer": T0 - 900, "calls": 5}
    )
    await aredis.hset(keys.handler("fewest-calls"), mapping={"last_offer": T0 - 60, "calls": 1})
    await queue_call(aredis, sid(1), "general", 3, T0)

    [offer] = await Assigner(aredis).assign(rules, T0 + 1)
    assert offer.handler == expected


async def test_wrap_up_and_timed_breaks_end_by_themselves(aredis: redis.asyncio.Redis) -> None:
    handlers = Handlers(aredis)
    await hire(aredis, "wrapping")
    await hire(aredis, "resting")
    await handlers.transition("wrapping", HandlerState.WRAP_UP, T0, (HandlerState.AVAILABLE,))
    await handlers.transition(
        "resting",
        HandlerState.BREAK,
        T0,
        (HandlerState.AVAILABLE,),
        reason="missed",
        break_until=T0 + 60,
    )
    rules = default_rules()  # 60 s of wrap-up
    await Assigner(aredis).assign(rules, T0 + 59)
    assert (await handlers.get("wrapping")).state is HandlerState.WRAP_UP
    await Assigner(aredis).assign(rules, T0 + 60)
    assert (await handlers.get("wrapping")).state is HandlerState.AVAILABLE
    assert (await handlers.get("resting")).state is HandlerState.AVAILABLE


async def test_a_callback_waits_in_the_same_order_and_is_offered_in_its_turn(
    aredis: redis.asyncio.Redis,
) -> None:
    await queue_call(aredis, sid(1), "general", 3, T0 + 10)
    await aredis.hset(keys.callback("K1"), mapping={"status": "pending", "queue": "general"})
    await aredis.zadd(keys.queue("general"), {"cb:K1": 3e13 + T0 * 1000})
    await hire(aredis, "h1")
    [offer] = await Assigner(aredis).assign(default_rules(), T0 + 20)
    assert offer.is_callback
    assert offer.member == "cb:K1"
    assert await aredis.hget(keys.callback("K1"), "status") == "reserved"


async def test_with_no_free_handler_nothing_moves(
    aredis: redis.asyncio.Redis, clock: VirtualClock
) -> None:
    await queue_call(aredis, sid(1), "general", 3, T0)
    assert await Assigner(aredis).assign(default_rules(), T0 + 1) == []
    assert await status(aredis, sid(1)) == "queued"
