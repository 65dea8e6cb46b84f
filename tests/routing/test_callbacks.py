"""The callback store on real Redis: the unreachable list kept whole, a clinician's re-prioritising
of an unreachable callback, one live callback per caller, and one per number called back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TypeVar

import pytest
import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.assignment import Assigner
from routing.callbacks import Booking, Callbacks, CallbackStatus, NumberTaken
from routing.calls import OUTCOMES, Calls, Finish
from routing.handlers import Device, HandlerProfile, Handlers, HandlerState
from routing.models import Answers, Call, Placement, Priority, Reason, Screen, case_id_for
from routing.rules import RuleSet, default_rules
from tests.conftest import NUMBERS

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0
CALLER = "+447700900123"
LINE = "+441134960000"
UNREACHABLE = keys.CALLBACKS + ":unreachable"

T = TypeVar("T")


def on_redis(redis_url: str, work: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
    """Run `work` with a client of its own, for tests that are not themselves async."""

    async def go() -> T:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


@cache
def packaged_rules() -> RuleSet:
    """The packaged rule set, parsed once: hundreds of bookings are made with it."""
    return default_rules()


def callbacks_of(client: redis.asyncio.Redis) -> Callbacks:
    return Callbacks(client, numbers=NUMBERS)


def sid(n: int) -> str:
    return f"CA{n:032x}"


def caller_of(n: int) -> str:
    return f"+4477009{n:05d}"


async def queue_call(client: redis.asyncio.Redis, call_sid: str, caller: str, now: float) -> None:
    answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
    placement = Placement(route="medical", queue="general", priority=Priority.STANDARD)
    call = Call(sid=call_sid, caller=caller, line=LINE, answers=answers)
    await Calls(client, numbers=NUMBERS).enqueue(call, placement, now)


async def convert(
    client: redis.asyncio.Redis, call_sid: str, caller: str, now: float
) -> Booking | None:
    placement = Placement(route="medical", queue="general", priority=Priority.STANDARD)
    return await Callbacks(client, numbers=NUMBERS).convert(
        call_sid, case_id_for(call_sid), caller, caller, placement, packaged_rules().callbacks, now
    )


async def book(client: redis.asyncio.Redis, n: int, now: float, caller: str = "") -> str:
    """A queued caller who takes a callback to their own number; the callback's id."""
    caller = caller or caller_of(n)
    await queue_call(client, sid(n), caller, now)
    booking = await convert(client, sid(n), caller, now)
    assert booking is not None
    assert not booking.kept
    return booking.callback


async def book_many(client: redis.asyncio.Redis, count: int, now: float) -> None:
    """`count` callbacks from other callers, each booked a second after the one before."""
    for n in range(1000, 1000 + count):
        await book(client, n, now + n - 999)


async def hire(client: redis.asyncio.Redis, handler_id: str, now: float) -> None:
    handlers = Handlers(client)
    device = Device(kind="client", address=handler_id)
    await handlers.create(HandlerProfile(id=handler_id, name=handler_id, device=device), now)
    await handlers.choose(handler_id, HandlerState.AVAILABLE, now)


async def try_once(client: redis.asyncio.Redis, callback_id: str, outcome: str, now: float) -> str:
    """Offer the callback to the free handler; the patient's phone gives `outcome`."""
    rules = packaged_rules()
    [offer] = await Assigner(client).assign(rules, now)
    assert offer.member == keys.callback_member(callback_id)
    return await Callbacks(client).attempted(
        callback_id, offer.handler, offer.offer, outcome, rules.callbacks, now
    )


async def make_unreachable(client: redis.asyncio.Redis, callback_id: str, now: float) -> float:
    """Every attempt by the rules fails (priority 3: three, 300 then 900 s apart), with one
    handler free; returns the time after."""
    await hire(client, "h1", now)
    callbacks = Callbacks(client, numbers=NUMBERS)
    outcomes = []
    for _ in range(3):
        outcomes.append(await try_once(client, callback_id, "busy", now))
        now += 900
        await callbacks.release_due(now)
    assert outcomes == ["scheduled", "scheduled", "unreachable"]
    return now


async def test_every_unreachable_callback_is_listed_however_many_were_booked_since(
    aredis: redis.asyncio.Redis,
) -> None:
    callback_id = await book(aredis, 1, T0)
    now = await make_unreachable(aredis, callback_id, T0)
    await book_many(aredis, 500, now)
    callbacks = Callbacks(aredis, numbers=NUMBERS)
    assert callback_id not in {callback.id for callback in await callbacks.latest(500)}

    [listed] = await callbacks.with_status(CallbackStatus.UNREACHABLE)

    assert (listed.id, listed.status) == (callback_id, CallbackStatus.UNREACHABLE)


async def test_scheduled_callbacks_are_listed_whole_too_and_other_statuses_from_the_latest(
    aredis: redis.asyncio.Redis,
) -> None:
    await hire(aredis, "h1", T0)
    retried = await book(aredis, 1, T0)
    assert await try_once(aredis, retried, "no-answer", T0) == "scheduled"
    await book_many(aredis, 3, T0)
    callbacks = Callbacks(aredis, numbers=NUMBERS)

    assert [c.id for c in await callbacks.with_status(CallbackStatus.SCHEDULED)] == [retried]
    pending = await callbacks.with_status(CallbackStatus.PENDING, count=2)
    assert [c.id for c in pending] == [case_id_for(sid(1002)), case_id_for(sid(1001))]
    assert len(await callbacks.with_status(None)) == 4


async def test_a_clinician_puts_an_unreachable_callback_back_in_its_place_with_fresh_attempts(
    aredis: redis.asyncio.Redis,
) -> None:
    callback_id = await book(aredis, 1, T0)
    now = await make_unreachable(aredis, callback_id, T0)
    callbacks = Callbacks(aredis, numbers=NUMBERS)
    rules = packaged_rules().callbacks

    outcome = await callbacks.reprioritise(
        callback_id, Priority.URGENT, "dr.jones", "try again", rules, now
    )

    assert outcome == "pending"
    callback = await callbacks.get(callback_id)
    assert (callback.status, callback.priority, callback.attempts) == ("pending", 2, 0)
    assert (callback.ended_at, callback.not_before) == (None, None)
    # Its original arrival, within the new class.
    score = await aredis.zscore(keys.queue("general"), keys.callback_member(callback_id))
    assert score == 2 * 10**13 + T0 * 1000
    assert await aredis.zscore(UNREACHABLE, callback_id) is None
    assert await callbacks.with_status(CallbackStatus.UNREACHABLE) == []
    history = await callbacks.history(callback_id)
    assert [entry.event for entry in history[-2:]] == ["priority", "back in queue"]
    assert history[-1].detail == {"by": "dr.jones", "attempts_before": 3}
    # The caller's callback again: a call from them is told it stands.
    assert await callbacks.live_for(caller_of(1)) == callback
    # A fresh set of attempts: one more failure is a retry, not the end.
    assert await try_once(aredis, callback_id, "no-answer", now) == "scheduled"


async def test_an_unreachable_callback_is_not_put_back_over_the_callers_newer_one(
    aredis: redis.asyncio.Redis,
) -> None:
    old = await book(aredis, 1, T0, caller=CALLER)
    now = await make_unreachable(aredis, old, T0)
    newer = await book(aredis, 2, now, caller=CALLER)  # they rang again and booked another
    callbacks = Callbacks(aredis, numbers=NUMBERS)

    outcome = await callbacks.reprioritise(
        old, Priority.URGENT, "dr.jones", "try again", packaged_rules().callbacks, now
    )

    assert outcome == "superseded"
    assert (await callbacks.get(old)).status is CallbackStatus.UNREACHABLE
    live = await callbacks.live_for(CALLER)
    assert live is not None
    assert live.id == newer


async def test_a_caller_with_a_live_callback_keeps_it_and_their_new_call_ends_as_that_one(
    aredis: redis.asyncio.Redis,
) -> None:
    callback_id = await book(aredis, 1, T0, caller=CALLER)
    await queue_call(aredis, sid(2), CALLER, T0 + 60)
    callbacks = Callbacks(aredis, numbers=NUMBERS)

    booking = await convert(aredis, sid(2), CALLER, T0 + 120)

    assert booking == Booking(callback=callback_id, kept=True)
    assert await convert(aredis, sid(2), CALLER, T0 + 121) == booking  # a retried webhook
    assert await aredis.zrange(keys.queue("general"), 0, -1) == [keys.callback_member(callback_id)]
    assert await aredis.zrange(keys.CALLBACKS, 0, -1) == [callback_id]
    call = await aredis.hgetall(keys.call(sid(2)))
    assert (call["status"], call["outcome"]) == ("callback", "callback")
    assert call["callback"] == callback_id
    assert [entry.event for entry in await callbacks.history(callback_id)] == [
        "booked",
        "asked again",
    ]
    # The caller hangs up after hearing so: not an abandoned call.
    assert await Calls(aredis).finish(sid(2), T0 + 130) is None
    assert await aredis.hget(OUTCOMES, Finish.ABANDONED.value) is None
    assert await aredis.hget(OUTCOMES, "callback") == "2"


# One live callback per number called back, whoever asks for it.

KEYED = "+447700900999"  # the number keyed in


async def convert_to(
    client: redis.asyncio.Redis, call_sid: str, number: str, caller: str, now: float
) -> Booking | None:
    placement = Placement(route="medical", queue="general", priority=Priority.STANDARD)
    return await Callbacks(client, numbers=NUMBERS).convert(
        call_sid, case_id_for(call_sid), number, caller, placement, packaged_rules().callbacks, now
    )


async def book_to(client: redis.asyncio.Redis, n: int, number: str, now: float) -> str:
    """Caller n (their number known) asks for a callback to `number`; the callback's id."""
    await queue_call(client, sid(n), caller_of(n), now)
    booking = await convert_to(client, sid(n), number, caller_of(n), now)
    assert booking is not None
    assert not booking.kept
    return booking.callback


async def test_a_second_caller_cannot_book_a_callback_to_a_number_that_has_a_live_one(
    aredis: redis.asyncio.Redis,
) -> None:
    first = await book_to(aredis, 1, KEYED, T0)
    await queue_call(aredis, sid(2), caller_of(2), T0 + 60)
    score = await aredis.zscore(keys.queue("general"), sid(2))

    with pytest.raises(NumberTaken) as refused:
        await convert_to(aredis, sid(2), KEYED, caller_of(2), T0 + 120)

    assert refused.value.refusals == 1
    # The second caller is still waiting, in their place: their need is not recorded anywhere else.
    assert await aredis.hget(keys.call(sid(2)), "status") == "queued"
    assert await aredis.zscore(keys.queue("general"), sid(2)) == score
    assert await aredis.zrange(keys.CALLBACKS, 0, -1) == [first]
    assert [entry.event for entry in await callbacks_of(aredis).history(first)] == ["booked"]
    with pytest.raises(NumberTaken) as again:
        await convert_to(aredis, sid(2), KEYED, caller_of(2), T0 + 130)
    assert again.value.refusals == 2
    # Their own number is theirs to have called back.
    booking = await convert_to(aredis, sid(2), caller_of(2), caller_of(2), T0 + 140)
    assert booking is not None
    assert not booking.kept


async def test_of_many_concurrent_bookings_to_one_number_exactly_one_is_made(
    aredis: redis.asyncio.Redis,
) -> None:
    callers = range(1, 21)
    for n in callers:
        await queue_call(aredis, sid(n), caller_of(n), T0 + n)

    outcomes = await asyncio.gather(
        *(convert_to(aredis, sid(n), KEYED, caller_of(n), T0 + 60) for n in callers),
        return_exceptions=True,
    )

    booked = [outcome for outcome in outcomes if isinstance(outcome, Booking)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, NumberTaken)]
    assert (len(booked), len(refused)) == (1, 19)
    assert not booked[0].kept
    assert await aredis.zrange(keys.CALLBACKS, 0, -1) == [booked[0].callback]


async def test_a_withheld_caller_keying_a_number_another_caller_has_a_callback_to_is_refused(
    aredis: redis.asyncio.Redis,
) -> None:
    first = await book_to(aredis, 1, KEYED, T0)
    await queue_call(aredis, sid(2), "", T0 + 60)

    with pytest.raises(NumberTaken):
        await convert_to(aredis, sid(2), KEYED, "", T0 + 120)

    assert await aredis.hget(keys.call(sid(2)), "status") == "queued"
    assert await aredis.zrange(keys.CALLBACKS, 0, -1) == [first]


async def test_a_withheld_caller_keying_a_number_whose_owner_has_a_live_callback_is_booked_none(
    aredis: redis.asyncio.Redis,
) -> None:
    """Known by the number they key in, a withheld caller is that number's caller: the owner's
    callback (to their own number) stands, as for two withheld calls keying one number."""
    owners = await book(aredis, 1, T0, caller=KEYED)
    await queue_call(aredis, sid(2), "", T0 + 60)

    booking = await convert_to(aredis, sid(2), KEYED, "", T0 + 120)

    assert booking == Booking(callback=owners, kept=True)
    assert await aredis.zrange(keys.CALLBACKS, 0, -1) == [owners]


async def test_a_caller_whose_record_lapsed_keeps_their_callback_to_a_number_they_keyed_in(
    aredis: redis.asyncio.Redis,
) -> None:
    """The number's live callback is this caller's own (their caller record gone after a day)."""
    first = await book_to(aredis, 1, KEYED, T0)
    await aredis.delete(keys.caller(NUMBERS(caller_of(1))))
    await queue_call(aredis, sid(2), caller_of(1), T0 + 60)

    booking = await convert_to(aredis, sid(2), KEYED, caller_of(1), T0 + 120)

    assert booking == Booking(callback=first, kept=True)


async def test_once_a_numbers_callback_is_over_another_caller_may_book_one_to_it(
    aredis: redis.asyncio.Redis,
) -> None:
    callbacks = callbacks_of(aredis)
    await hire(aredis, "h1", T0)
    made = await book_to(aredis, 1, KEYED, T0)
    assert await try_once(aredis, made, "answered", T0 + 10) == "connected"
    assert await callbacks.done(made, T0 + 600)

    cancelled = await book_to(aredis, 2, KEYED, T0 + 700)
    assert await callbacks.cancel(cancelled, "caller", "better now", T0 + 800) == "cancelled"

    third = await book_to(aredis, 3, KEYED, T0 + 900)
    assert (await callbacks.get(third)).status is CallbackStatus.PENDING
    # Nothing is left that ties the number to a callback once none is live.
    assert await callbacks.cancel(third, "caller", "better now", T0 + 1000) == "cancelled"
    assert not [key async for key in aredis.scan_iter(keys.callback_to("*"))]


async def test_an_unreachable_callback_is_not_put_back_over_another_callers_to_its_number(
    aredis: redis.asyncio.Redis,
) -> None:
    old = await book_to(aredis, 1, KEYED, T0)
    now = await make_unreachable(aredis, old, T0)
    assert not [key async for key in aredis.scan_iter(keys.callback_to("*"))]
    # Unreachable is not live: another caller may have the number called back meanwhile.
    newer = await book_to(aredis, 2, KEYED, now)
    callbacks = callbacks_of(aredis)

    outcome = await callbacks.reprioritise(
        old, Priority.URGENT, "dr.jones", "try again", packaged_rules().callbacks, now
    )

    assert outcome == "number taken"
    assert (await callbacks.get(old)).status is CallbackStatus.UNREACHABLE
    assert await callbacks.holding_number(old) == newer
    assert await callbacks.cancel(newer, "caller", "better now", now + 1) == "cancelled"
    assert await callbacks.holding_number(old) == ""
    outcome = await callbacks.reprioritise(
        old, Priority.URGENT, "dr.jones", "try again", packaged_rules().callbacks, now + 2
    )
    assert outcome == "pending"
    await queue_call(aredis, sid(3), caller_of(3), now + 3)
    with pytest.raises(NumberTaken):
        await convert_to(aredis, sid(3), KEYED, caller_of(3), now + 4)
