"""A handler's wrap-up: the outcome and notes recorded, the clinical system told (by a job, or
the journal while it is down), and the handler free again when they say so."""

from __future__ import annotations

from console.context import Console
from console.errors import Conflict
from routing.handlers import HandlerState
from routing.wrapup import CLINICAL_KIND, WrapUpOutcome, record
from workers.enqueue import Request


async def wrap_up(
    console: Console, handler_id: str, outcome: WrapUpOutcome, notes: str, available: bool
) -> HandlerState:
    """Record the wrap-up; the handler goes where they asked to be after the call, if they
    did, else available when `available`. Returns the state they are in now."""
    handler = await console.handlers.get(handler_id)
    if handler.state is not HandlerState.WRAP_UP or not handler.call:
        raise Conflict(f"{handler_id} has no call to wrap up")
    mode = await console.modes.current()
    if outcome is WrapUpOutcome.BOOKED and mode.degraded:
        raise Conflict("bookings are not offered while the clinical system is down")
    now = console.clock.now()
    member = handler.call
    await record(console.redis, member, handler_id, outcome, notes, now)
    kind = CLINICAL_KIND.get(outcome)
    if kind is not None:
        call = await console.calls.get(member) if not member.startswith("cb:") else None
        if member.startswith("cb:"):
            callback = await console.callbacks.get(member.removeprefix("cb:"))
            case_id, caller, locale = callback.case_id, callback.number, callback.locale
            reason, priority, created = "existing_case", int(callback.priority), callback.created
        elif call is not None:
            case_id, caller, locale = call.case_id, call.caller, call.locale.value
            reason = str(call.answers.reason or "unknown")
            priority = int(call.placement.priority) if call.placement else 3
            created = call.created
        else:
            raise Conflict("the call's record has expired")
        await console.jobs.send_case_async(
            case_id,
            kind,
            caller,
            locale,
            reason,
            priority,
            created,
            notes,
            # its own request: the case as opened may have been sent already
            request=Request.WRAP_UP,
        )
    going = handler.after_call or (HandlerState.AVAILABLE if available else None)
    if going is None:
        return HandlerState.WRAP_UP
    await console.handlers.choose(handler_id, going, now, handler.after_call_reason)
    if going is HandlerState.AVAILABLE:
        await console.assign()
    return going
