"""Connecting a reserved caller to their handler (the connect job redirects the call here)."""

from __future__ import annotations

import logging

from ivr.context import Ivr
from ivr.forms import DialForm, TwilioForm
from ivr.safety import emergency_dial, ids, safe_route
from ivr.states import Offered, Whispered
from prompts.catalogue import PromptId
from routing import connecting
from routing.decisions import Decision, Nothing, say
from routing.handlers import Handler
from routing.hold import emergency_overdue
from routing.models import CallRecord, CallStatus, Priority
from routing.offers import Release
from routing.placing import dispatch_emergency, finish, nobody_can_take, offer_waiting, requeue
from routing.rules import RuleSet

log = logging.getLogger(__name__)

CALLER_GONE = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})


async def connect(ivr: Ivr, form: TwilioForm, state: Offered) -> Decision:
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return safe_route(ivr, state)
    live = (
        record.status is CallStatus.RESERVED
        and record.handler == state.handler
        and record.offers == state.offer
    )
    if not live:
        if record.status is CallStatus.DISPATCHED:
            # The redirect came after the emergency left for the dispatch line: back to it.
            log.warning("late connect redirect for a dispatched call", extra=ids(form))
            return emergency_dial(ivr, record.locale, form.call_sid)
        if record.status is CallStatus.DIVERTED:
            # ... or after the caller was put through to another service: it pulled them off
            # that line, so they come back to their place in the queue.
            log.warning("late connect redirect for a diverted call", extra=ids(form))
            return await requeue(ivr.floor, record, say(PromptId.STILL_QUEUED), redial=True)
        # A late or repeated redirect: the caller goes back to holding in their place.
        log.info("stale connect redirect", extra=ids(form))
        return await requeue(ivr.floor, record, ())
    handler = await ivr.handlers.get(state.handler)
    rules = await ivr.rulebook.active()
    refused = connecting.phone_refused(handler, ivr.settings.policy_exceptions)
    if refused:
        return await not_dialled(ivr, form, state, handler, rules, refused)
    return connecting.connect(record, handler, state.offer, rules, ivr.clock.now())


async def not_dialled(
    ivr: Ivr, form: TwilioForm, state: Offered, handler: Handler, rules: RuleSet, why: str
) -> Decision:
    """The handler's phone is outside the number policy: it is not dialled. The handler goes
    offline, saying why; the caller goes back to their place (an emergency that nobody else
    free could take, to the dispatch line)."""
    now = ivr.clock.now()
    await ivr.offers.phone_refused(form.call_sid, handler, state.offer, why, now, rules, ids(form))
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return safe_route(ivr, state)
    if await _dispatch_now(ivr, record, rules, now):
        return await dispatch_emergency(ivr.floor, record, "handler not dialled")
    return await requeue(ivr.floor, record, say(PromptId.HANDLER_UNAVAILABLE))


async def whisper(ivr: Ivr, form: TwilioForm, state: Whispered) -> Decision:
    """The handler answered (this request is on their leg): connect, unless the offer is over."""
    if not await ivr.offers.answered(state.call, state.handler, state.offer, ivr.clock.now()):
        return connecting.taken()
    record = await ivr.calls.get(state.call)
    if record is None:
        return connecting.taken()
    log.info("answered", extra={"call_sid": state.call, "handler": state.handler})
    return connecting.whisper(record)


async def connect_result(ivr: Ivr, form: DialForm, state: Offered) -> Decision:
    """The handler's phone rang out, was busy, or the conversation is over; or the caller hung
    up while it rang (the request says their own call is over): abandoned, whatever the dial.
    A handler who picked up an offer that was over was told so and hung up on: Twilio reports
    that as `completed` but not bridged, and the caller, never connected, goes back to their
    place."""
    bridged = form.dial_status in ("completed", "answered") and form.bridged != "false"
    if bridged or form.call_status in CALLER_GONE:
        await finish(ivr.floor, form.call_sid)
        await offer_waiting(ivr.floor)
        return Nothing()
    missed = form.dial_status in ("no-answer", "busy", "canceled")
    why = Release.MISSED if missed else Release.FAILED
    rules = await ivr.rulebook.active()
    now = ivr.clock.now()
    await ivr.offers.release(form.call_sid, state.handler, state.offer, now, why, rules)
    log.info("offer %s: %s", form.dial_status, why.value, extra=ids(form))
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return safe_route(ivr, state)
    # On offer to someone else already (this result came late, or again): the caller waits for
    # that offer, whose own limit applies; otherwise an emergency past its limit, or with nobody
    # else free who could take it, goes to dispatch now.
    if record.status is not CallStatus.RESERVED and await _dispatch_now(ivr, record, rules, now):
        return await dispatch_emergency(ivr.floor, record, "handler missed it")
    return await requeue(ivr.floor, record, say(PromptId.HANDLER_UNAVAILABLE))


async def _dispatch_now(ivr: Ivr, record: CallRecord, rules: RuleSet, now: float) -> bool:
    placement = record.placement
    if placement is None or placement.priority is not Priority.EMERGENCY:
        return False
    if emergency_overdue(record, rules, now):
        return True
    waited = now - (record.arrival or record.created)
    return await nobody_can_take(ivr.floor, rules, record.sid, placement.queue, waited)
