"""A handler's wrap-up: the outcome and notes recorded, the clinical system told (by a job, or
the journal while it is down), and the handler free again when they say so. "Appointment booked"
only once an appointment was booked for the case (console/booking.py), and then with it."""

from __future__ import annotations

from console.booking import DEGRADED, booked_slot
from console.case import case_facts
from console.context import Console
from console.errors import Conflict
from routing.handlers import HandlerState
from routing.wrapup import CLINICAL_KIND, WrapUpOutcome, record
from workers.enqueue import Request

NOT_BOOKED = (
    'book an appointment for this case in the console before wrapping up as "appointment booked"'
)


async def wrap_up(
    console: Console, handler_id: str, outcome: WrapUpOutcome, notes: str, available: bool
) -> HandlerState:
    """Record the wrap-up; the handler goes where they asked to be after the call, if they
    did, else available when `available`. Returns the state they are in now."""
    handler = await console.handlers.get(handler_id)
    if handler.state is not HandlerState.WRAP_UP or not handler.call:
        raise Conflict(f"{handler_id} has no call to wrap up")
    member = handler.call
    kind = CLINICAL_KIND.get(outcome)
    facts = await case_facts(console, member) if kind is not None else None
    appointment = None
    if outcome is WrapUpOutcome.BOOKED and facts is not None:
        # Booked in the clinical system while the handler watched (even if it has gone down
        # since, when the wrap-up goes to the journal with it); never on the handler's word.
        appointment = await booked_slot(console, facts.case_id)
        if appointment is None:
            raise Conflict(DEGRADED if (await console.modes.current()).degraded else NOT_BOOKED)
    now = console.clock.now()
    await record(console.redis, member, handler_id, outcome, notes, now)
    if kind is not None and facts is not None:
        await console.jobs.off_loop(
            console.jobs.send_case,
            facts.case_id,
            kind,
            facts.caller,
            facts.locale,
            facts.reason,
            facts.priority,
            facts.created,
            notes,
            # its own request: the case as opened may have been sent already
            request=Request.WRAP_UP,
            appointment=appointment,
        )
    going = handler.after_call or (HandlerState.AVAILABLE if available else None)
    if going is None:
        return HandlerState.WRAP_UP
    await console.handlers.choose(handler_id, going, now, handler.after_call_reason)
    if going is HandlerState.AVAILABLE:
        await console.assign()
    return going
