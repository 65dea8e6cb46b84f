"""A handler's wrap-up: the outcome and notes recorded, the clinical system told (by a job, or
the journal while it is down), and the handler free again when they say so. "Appointment booked"
only once an appointment was booked for the case (console/booking.py), and then with it."""

from __future__ import annotations

from console.booking import DEGRADED, UNSETTLED, AtWrapUp, at_wrap_up, label
from console.case import CaseFacts, case_facts
from console.context import Console
from console.errors import Conflict
from routing.cases import CaseKind
from routing.handlers import HandlerState
from routing.wrapup import CLINICAL_KIND, WrapUpOutcome, record

NOT_BOOKED = (
    'book an appointment for this case in the console before wrapping up as "appointment booked"'
)
# With an appointment booked, the outcomes that carry it (and an ambulance, never refused).
WITH_A_BOOKING = frozenset({WrapUpOutcome.BOOKED, WrapUpOutcome.AMBULANCE})


async def wrap_up(
    console: Console, handler_id: str, outcome: WrapUpOutcome, notes: str, available: bool
) -> HandlerState:
    """Record the wrap-up; the handler goes where they asked to be after the call, if they
    did, else available when `available`. Returns the state they are in now. A wrap-up may be
    corrected while the handler is still wrapping up: each is sent as a request of its own."""
    handler = await console.handlers.get(handler_id)
    if handler.state is not HandlerState.WRAP_UP or not handler.call:
        raise Conflict(f"{handler_id} has no call to wrap up")
    member = handler.call
    kind = CLINICAL_KIND.get(outcome)
    try:
        facts: CaseFacts | None = await case_facts(console, member)
    except Conflict:
        if kind is not None:
            raise  # the clinical system cannot be told without the case
        facts = None  # a callback whose record expired: its wrap-up is only for our records
    booking = await at_wrap_up(console, facts.case_id) if facts is not None else AtWrapUp()
    if outcome is WrapUpOutcome.BOOKED and booking.booked is None:
        # Booked in the clinical system while the handler watched (even if it has gone down
        # since, when the wrap-up goes to the journal with it); never on the handler's word.
        if booking.unsure is not None:
            raise Conflict(UNSETTLED)
        raise Conflict(DEGRADED if (await console.modes.current()).degraded else NOT_BOOKED)
    if booking.unsure is not None and kind is None:
        raise Conflict(
            f"An appointment may have been booked for this case ({label(booking.unsure)}): try "
            'booking it again, or wrap up as "referred" or "ambulance requested", whose case '
            "sent to the clinical system names it."
        )
    if booking.booked is not None and outcome not in WITH_A_BOOKING:
        raise Conflict(
            f"An appointment is booked for this case ({label(booking.booked)}): wrap up as "
            '"appointment booked", or "ambulance requested" if the caller needs one now.'
        )
    now = console.clock.now()
    number = await record(console.redis, member, handler_id, outcome, notes, now)
    if kind is not None and facts is not None:
        told = notes
        if outcome is not WrapUpOutcome.BOOKED and booking.note():
            # The clinical system hears of the appointment with the case it is sent instead.
            told = f"{notes}\n\n{booking.note()}" if notes else booking.note()
        appointment = booking.booked if outcome is WrapUpOutcome.BOOKED else None
        case = facts.wrap_up(CaseKind(kind), told, appointment, number)
        await console.jobs.off_loop(console.jobs.send_case, case)
    going = handler.after_call or (HandlerState.AVAILABLE if available else None)
    if going is None:
        return HandlerState.WRAP_UP
    await console.handlers.choose(handler_id, going, now, handler.after_call_reason)
    if going is HandlerState.AVAILABLE:
        await console.assign()
    return going
