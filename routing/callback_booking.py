"""The callback offered in the hold loop: confirm or key in a number, and keep one's place; and
a caller's callback still to be made (keep, raise or cancel it). Each step takes the call (its
answers so far), the try at the question and what was given. A call with no placement is raised
(NoPlacement); one that cannot be queued, CannotQueue."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from prompts.catalogue import PromptId
from routing import menu
from routing.callbacks import Booking, NumberTaken
from routing.cases import CaseKind, opened
from routing.decisions import Decision, Goodbye, Leave, Nothing, Spoken, Step, say
from routing.floor import Floor
from routing.menu import Given
from routing.models import Call, CallRecord, Priority, Reason, case_id_for
from routing.numbers import spoken_digits, uk_number
from routing.placing import NoPlacement, place, requeue

log = logging.getLogger(__name__)


def start_callback(record: CallRecord) -> Decision:
    """The callback the caller asked for in the wait loop: confirm the number they call from, or
    key one in (a withheld number)."""
    answers = record.answers.model_copy(update={"locale": record.locale})
    if record.caller:
        return menu.ask(
            Step.CALLBACK_CONFIRM,
            answers,
            record.locale,
            values={"last_digits": " ".join(record.caller[-3:])},
        )
    return menu.ask(Step.CALLBACK_NUMBER, answers, record.locale)


async def callback_offer(floor: Floor, call: Call, attempt: int, given: Given) -> Decision:
    """Pressed during the hold loop (so still in the queue's wait context). A caller who has a
    live callback already is booked no other: they hear that theirs stands, and the call ends."""
    if menu.choice(Step.CALLBACK_OFFER, given) is None:
        return Nothing()  # the wait loop starts its next turn
    record = await _callback_record(floor, call.sid)
    if record is not None and await floor.callbacks.live_for(record.caller) is not None:
        # NumberTaken: theirs closed just now, and another caller's is to their number; they
        # are asked for a number like anyone.
        with contextlib.suppress(NumberTaken):
            booking = await _convert(floor, record, record.caller)
            if booking is None:  # no longer queued (a handler is being rung): the wait carries on
                return Nothing()
            return await _booked(floor, record, booking, record.caller)
    await floor.callbacks.request(call.sid)
    return Leave()


async def callback_confirm(floor: Floor, call: Call, attempt: int, given: Given) -> Decision:
    record = await _callback_record(floor, call.sid)
    if record is None:
        raise NoPlacement(call.sid)
    value = menu.choice(Step.CALLBACK_CONFIRM, given)
    if value == "confirm" and record.caller:
        return await _book(floor, call, record, record.caller)
    if value == "change":
        return menu.ask(Step.CALLBACK_NUMBER, call.answers, record.locale)
    return await _ask_again(floor, call, record, Step.CALLBACK_CONFIRM, attempt, given)


async def callback_number(floor: Floor, call: Call, attempt: int, given: Given) -> Decision:
    record = await _callback_record(floor, call.sid)
    if record is None:
        raise NoPlacement(call.sid)
    number = uk_number(given.digits)
    if number is None:
        return await _ask_again(floor, call, record, Step.CALLBACK_NUMBER, attempt, given)
    await floor.callbacks.propose_number(record.sid, number)
    return menu.ask(
        Step.CALLBACK_READBACK,
        call.answers,
        record.locale,
        values={"digits": spoken_digits(number)},
    )


async def callback_readback(floor: Floor, call: Call, attempt: int, given: Given) -> Decision:
    record = await _callback_record(floor, call.sid)
    if record is None:
        raise NoPlacement(call.sid)
    value = menu.choice(Step.CALLBACK_READBACK, given)
    number = await floor.callbacks.proposed_number(record.sid)
    if value == "confirm" and number:
        return await _book(floor, call, record, number)
    if value == "change":
        return menu.ask(Step.CALLBACK_NUMBER, call.answers, record.locale, attempt=attempt)
    values = {"digits": spoken_digits(number)} if number else {}
    if attempt + 1 >= menu.MAX_ASKS or not number:
        return await _ask_again(floor, call, record, Step.CALLBACK_READBACK, attempt, given)
    return menu.ask(
        Step.CALLBACK_READBACK,
        call.answers,
        record.locale,
        attempt=attempt + 1,
        before=menu.retry_prompt(given),
        values=values,
    )


async def _callback_record(floor: Floor, sid: str) -> CallRecord | None:
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        return None
    return record


async def _ask_again(
    floor: Floor, call: Call, record: CallRecord, current: Step, attempt: int, given: Given
) -> Decision:
    """The same question once more, or, after three tries, back to the queue in the same place."""
    if attempt + 1 < menu.MAX_ASKS:
        values = {"last_digits": " ".join(record.caller[-3:])} if record.caller else {}
        return menu.ask(
            current,
            call.answers,
            record.locale,
            attempt=attempt + 1,
            before=menu.retry_prompt(given),
            values=values if current is Step.CALLBACK_CONFIRM else None,
        )
    await floor.callbacks.withdraw(record.sid)
    return await requeue(floor, record, say(PromptId.STILL_QUEUED))


async def _convert(floor: Floor, record: CallRecord, number: str) -> Booking | None:
    assert record.placement is not None
    rules = await floor.rulebook.active()
    return await floor.callbacks.convert(
        record.sid,
        case_id_for(record.sid),
        number,
        record.caller,
        record.placement,
        rules.callbacks,
        floor.clock.now(),
    )


async def _book(floor: Floor, call: Call, record: CallRecord, number: str) -> Decision:
    try:
        booking = await _convert(floor, record, number)
    except NumberTaken as taken:
        return await _number_taken(floor, call, record, taken.refusals)
    if booking is None:
        await floor.callbacks.withdraw(record.sid)
        return await requeue(floor, record, say(PromptId.CALLBACK_FAILED))
    return await _booked(floor, record, booking, number)


async def _number_taken(floor: Floor, call: Call, record: CallRecord, refusals: int) -> Decision:
    """The number has another caller's live callback (one per number called back): like a number
    that cannot be called back, another is asked for, and after three the caller is back in the
    queue in their place. What they hear does not say that the number has a callback."""
    log.info("callback number refused: it has a live callback", extra={"call_sid": record.sid})
    refused = say(PromptId.CALLBACK_NUMBER_TAKEN)
    if refusals < menu.MAX_ASKS:
        return menu.ask(Step.CALLBACK_NUMBER, call.answers, record.locale, before=refused)
    await floor.callbacks.withdraw(record.sid)
    return await requeue(floor, record, refused + say(PromptId.STILL_QUEUED))


async def _booked(floor: Floor, record: CallRecord, booking: Booking, number: str) -> Decision:
    """The call is now a callback: the caller's from before, which stands (one live callback
    per caller), or a new one, whose case goes to the clinical system."""
    assert record.placement is not None
    if booking.kept:
        log.info("callback kept", extra={"call_sid": record.sid, "case_id": booking.callback})
        return Goodbye(locale=record.locale, say=say(PromptId.CALLBACK_KEPT))
    log.info("callback booked", extra={"call_sid": record.sid, "case_id": record.case_id})
    # An open case for the clinical system (or, while it is down, the journal: replayed first).
    await floor.outbound.hand_off(
        f"the callback case of {record.sid}",
        floor.outbound.send_case,
        opened(record, CaseKind.REFERRAL, number, notes="call back requested"),
        open_case=True,
    )
    return Goodbye(locale=record.locale, say=say(PromptId.CALLBACK_BOOKED))


async def callback_existing(floor: Floor, call: Call, attempt: int, given: Given) -> Decision:
    """A caller whose callback is still to be made: keep it, raise it (worse), or cancel it."""
    answers = call.answers
    locale = answers.language
    value = menu.choice(Step.CALLBACK_EXISTING, given)
    if value is None:
        if attempt + 1 < menu.MAX_ASKS:
            again = menu.retry_prompt(given)
            return menu.ask(Step.CALLBACK_EXISTING, answers, locale, attempt + 1, again)
        # Nothing pressed: the callback stands, and the caller is put through with what we know.
        known = answers.model_copy(
            update={
                "callback_choice": "unanswered",
                "reason": answers.reason or Reason.EXISTING_CASE,
            }
        )
        return await place(floor, call.model_copy(update={"answers": known}), gave_up=True)
    callback = await floor.callbacks.live_for(call.caller)
    now = floor.clock.now()
    if callback is not None and value == "keep":
        return Goodbye(locale=locale, say=say(PromptId.CALLBACK_KEPT))
    if callback is not None and value == "worse":
        raised = Priority(max(Priority.URGENT, callback.priority - 1))
        rules = (await floor.rulebook.active()).callbacks
        outcome = await floor.callbacks.reprioritise(
            callback.id, raised, "caller", "symptoms worse", rules, now
        )
        prompt = PromptId.CALLBACK_KEPT if outcome == "reserved" else PromptId.CALLBACK_RAISED
        return Goodbye(locale=locale, say=say(prompt))
    before: tuple[Spoken, ...] = ()
    if callback is not None:  # cancel
        outcome = await floor.callbacks.cancel(
            callback.id, "caller", "cancelled by the caller", now
        )
        if outcome not in ("cancelled", "cancelled already"):  # it is being made right now
            return Goodbye(locale=locale, say=say(PromptId.CALLBACK_KEPT))
        before = say(PromptId.CALLBACK_CANCELLED)
        log.info("callback cancelled by the caller", extra={"case_id": callback.id})
    carry_on = answers.model_copy(update={"callback_choice": value, "has_callback": False})
    following = menu.next_step(carry_on)
    if following is None:
        return await place(floor, call.model_copy(update={"answers": carry_on}))
    return menu.ask(following, carry_on, locale, before=before)


CALLBACK_STEPS: dict[Step, Callable[[Floor, Call, int, Given], Awaitable[Decision]]] = {
    Step.CALLBACK_EXISTING: callback_existing,
    Step.CALLBACK_OFFER: callback_offer,
    Step.CALLBACK_CONFIRM: callback_confirm,
    Step.CALLBACK_NUMBER: callback_number,
    Step.CALLBACK_READBACK: callback_readback,
}
