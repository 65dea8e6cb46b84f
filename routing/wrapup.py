"""What a handler records when a call is over: its outcome and notes, kept on the case, and the
case the clinical system is told. "Appointment booked" only once an appointment was booked for the
case in the console, and then with it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from pydantic import ValidationError
from redis.asyncio import Redis

from routing import keys
from routing.assignment import Assigner, Offer
from routing.bookings import Bookings, BookingStatus
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.cases import (
    DEGRADED,
    BookedSlot,
    CaseFacts,
    CaseGone,
    CaseKind,
    ClinicalCase,
    case_facts,
    label,
)
from routing.handlers import Handlers, HandlerState
from routing.lua import argument
from routing.mode import ModeStore
from routing.replicated import replicated
from routing.rulebook import RuleBook

log = logging.getLogger(__name__)


class WrapUpOutcome(StrEnum):
    AMBULANCE = "ambulance_requested"
    REFERRED = "referred"
    BOOKED = "appointment_booked"
    ADVICE = "advice_given"
    CALLBACK = "callback_arranged"


# Which outcomes the clinical system must hear about, and as what kind of case.
CLINICAL_KIND = {
    WrapUpOutcome.AMBULANCE: "ambulance",
    WrapUpOutcome.REFERRED: "referral",
    WrapUpOutcome.BOOKED: "booking",
}


# Which wrap-up of the call this is: the last one's number again if it is the same (a request
# sent twice, its answer lost), else the next (a record from before wrap-ups were counted has
# had one).
_RECORD = """
local a = cjson.decode(ARGV[1])
local last = redis.call('HMGET', KEYS[1], 'wrap_up_outcome', 'wrap_up_notes')
local outcome, notes = last[1], last[2]
local count = tonumber(redis.call('HGET', KEYS[1], 'wrap_ups') or (outcome and '1' or '0'))
if count > 0 and outcome == a.outcome and notes == a.notes then return count end
count = count + 1
redis.call('HSET', KEYS[1], 'wrap_ups', count, 'wrap_up_outcome', a.outcome,
           'wrap_up_notes', a.notes, 'wrap_up_by', a.by, 'wrap_up_at', a.now)
return count
"""


async def record(
    redis: Redis, member: str, handler_id: str, outcome: WrapUpOutcome, notes: str, now: float
) -> int:
    """On the call's record (or the callback's): who closed it, how, when, with what notes.
    Returns which wrap-up of the call this is: a handler may correct one before moving on, and
    each goes to the clinical system as a request of its own; the same one sent twice is one."""
    key = keys.record(member)
    script = redis.register_script(_RECORD)
    args = argument(outcome=outcome.value, notes=notes, by=handler_id, now=now)
    return int(
        await replicated(
            redis, "wrap-up", lambda client: script(keys=[key], args=args, client=client)
        )
    )


NO_CALLBACK = (
    'arrange the clinician callback before wrapping up as "callback arranged" (Arrange a '
    "clinician callback, with the call): until then no callback exists"
)
NOT_BOOKED = (
    'book an appointment for this case in the console before wrapping up as "appointment booked"'
)
UNSETTLED = (
    "this case's booking waits for the clinical system to confirm it: try booking it again, or "
    "wrap up with another outcome (Lifeline finds out whether it was booked)"
)
# With an appointment booked, the outcomes that carry it (and an ambulance, never refused).
WITH_A_BOOKING = frozenset({WrapUpOutcome.BOOKED, WrapUpOutcome.AMBULANCE})


class WrapUpRefused(Exception):
    """Nothing was recorded; the message says why, and what the handler may do instead."""


class AtWrapUp(NamedTuple):
    """The case's appointment as its wrap-up finds it: booked, or perhaps booked (its answer
    lost, or its booking in flight), or neither."""

    booked: BookedSlot | None = None
    unsure: BookedSlot | None = None

    def note(self) -> str:
        """What the case sent to the clinical system says of it, if anything."""
        if self.booked is not None:
            slot = self.booked
            return f"An appointment is booked for this case: {label(slot)} ({slot.slot})."
        if self.unsure is not None:
            slot = self.unsure
            return (
                f"An appointment may have been booked for this case: {label(slot)} "
                f"({slot.slot}); its booking was not confirmed."
            )
        return ""


async def at_wrap_up(redis: Redis, case_id: str) -> AtWrapUp:
    try:
        saved = await Bookings(redis).read(case_id)
    except ValidationError:
        # Never a reason to refuse a wrap-up (an ambulance above all): as if none were booked.
        log.exception("booking of case %s unreadable", case_id, extra={"case_id": case_id})
        return AtWrapUp()
    booking = saved.booking
    if booking is not None and booking.status is BookingStatus.BOOKED:
        return AtWrapUp(booked=booking.chosen)
    return AtWrapUp(unsure=saved.chosen_slot())


@dataclass(frozen=True)
class WrappedUp:
    state: HandlerState  # where the handler is now
    offers: list[Offer] = field(default_factory=list)  # to free handlers, for the caller to connect


async def wrap_up(
    redis: Redis,
    handlers: Handlers,
    calls: Calls,
    callbacks: Callbacks,
    modes: ModeStore,
    rulebook: RuleBook,
    assigner: Assigner,
    send_case: Callable[[ClinicalCase], Awaitable[object]],
    handler_id: str,
    *,
    outcome: WrapUpOutcome,
    notes: str,
    available: bool,
    now: float,
) -> WrappedUp:
    """Record the wrap-up and send the clinical system the case it makes (by `send_case`); the
    handler goes where they asked to be after the call, if they did, else available when
    `available`. A wrap-up may be corrected while the handler is still wrapping up: each is sent
    as a request of its own. WrapUpRefused, with nothing recorded, if it cannot be."""
    handler = await handlers.get(handler_id)
    if handler.state is not HandlerState.WRAP_UP or not handler.call:
        raise WrapUpRefused(f"{handler_id} has no call to wrap up")
    member = handler.call
    kind = CLINICAL_KIND.get(outcome)
    try:
        facts: CaseFacts | None = await case_facts(calls, callbacks, member)
    except CaseGone as gone:
        if kind is not None:  # the clinical system cannot be told without the case
            raise WrapUpRefused(str(gone)) from None
        facts = None  # a callback whose record expired: its wrap-up is only for our records
    booking = await at_wrap_up(redis, facts.case_id) if facts is not None else AtWrapUp()
    if outcome is WrapUpOutcome.BOOKED and booking.booked is None:
        # Booked in the clinical system while the handler watched (even if it has gone down
        # since, when the wrap-up goes to the journal with it); never on the handler's word.
        if booking.unsure is not None:
            raise WrapUpRefused(UNSETTLED)
        raise WrapUpRefused(DEGRADED if (await modes.current()).degraded else NOT_BOOKED)
    if booking.unsure is not None and kind is None:
        raise WrapUpRefused(
            f"An appointment may have been booked for this case ({label(booking.unsure)}): try "
            'booking it again, or wrap up as "referred" or "ambulance requested", whose case '
            "sent to the clinical system names it."
        )
    if booking.booked is not None and outcome not in WITH_A_BOOKING:
        raise WrapUpRefused(
            f"An appointment is booked for this case ({label(booking.booked)}): wrap up as "
            '"appointment booked", or "ambulance requested" if the caller needs one now.'
        )
    if outcome is WrapUpOutcome.CALLBACK and not await redis.hget(
        keys.record(member), "clinician_callback"
    ):
        raise WrapUpRefused(NO_CALLBACK)
    number = await record(redis, member, handler_id, outcome, notes, now)
    if kind is not None and facts is not None:
        told = notes
        if outcome is not WrapUpOutcome.BOOKED and booking.note():
            # The clinical system hears of the appointment with the case it is sent instead.
            told = f"{notes}\n\n{booking.note()}" if notes else booking.note()
        appointment = booking.booked if outcome is WrapUpOutcome.BOOKED else None
        await send_case(facts.wrap_up(CaseKind(kind), told, appointment, number))
    going = handler.after_call or (HandlerState.AVAILABLE if available else None)
    if going is None:
        return WrappedUp(HandlerState.WRAP_UP)
    await handlers.choose(handler_id, going, now, handler.after_call_reason)
    if going is HandlerState.AVAILABLE:
        return WrappedUp(going, await assigner.assign(await rulebook.active(), now))
    return WrappedUp(going)
