"""A reserved caller put through to their handler, step by step: the connect redirect arriving,
the handler answering, and the dial's outcome. A call with no placement is raised (NoPlacement)."""

from __future__ import annotations

import logging

from prompts.catalogue import PromptId
from routing import after_call, connecting
from routing.decisions import Decision, Nothing, say
from routing.floor import Floor
from routing.handlers import Handler
from routing.hold import emergency_overdue
from routing.models import CallRecord, CallStatus, Priority
from routing.offers import Release
from routing.onward import sent_on
from routing.placing import (
    dispatch_emergency,
    emergency_dial,
    finish,
    nobody_can_take,
    offer_waiting,
    placed_record,
    requeue,
)
from routing.rules import RuleSet

log = logging.getLogger(__name__)

CALLER_GONE = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})


async def connect(floor: Floor, sid: str, handler_id: str, offer: int) -> Decision:
    """The connect job redirected the call here: dial the handler, if the offer is still live."""
    record = await placed_record(floor, sid)
    ids = {"call_sid": sid}
    live = (
        record.status is CallStatus.RESERVED
        and record.handler == handler_id
        and record.offers == offer
    )
    if not live:
        if record.status is CallStatus.DISPATCHED:
            # The redirect came after the emergency left for the dispatch line: back to it.
            log.warning("late connect redirect for a dispatched call", extra=ids)
            return emergency_dial(floor, record)
        if record.status is CallStatus.DIVERTED:
            # ... or after the caller was put through to another service: it pulled them off
            # that line, so they come back to their place in the queue.
            log.warning("late connect redirect for a diverted call", extra=ids)
            return await requeue(floor, record, say(PromptId.STILL_QUEUED), redial=True)
        # A late or repeated redirect: the caller goes back to holding in their place.
        log.info("stale connect redirect", extra=ids)
        return await requeue(floor, record, ())
    handler = await floor.handlers.get(handler_id)
    rules = await floor.rulebook.active()
    refused = connecting.phone_refused(handler, floor.settings.policy_exceptions)
    if refused:
        return await not_dialled(floor, sid, handler, offer, rules, refused)
    return connecting.connect(record, handler, offer, rules, floor.clock.now())


async def not_dialled(
    floor: Floor, sid: str, handler: Handler, offer: int, rules: RuleSet, why: str
) -> Decision:
    """The handler's phone is outside the number policy: it is not dialled. The handler goes
    offline, saying why; the caller goes back to their place (an emergency that nobody else
    free could take, to the dispatch line)."""
    now = floor.clock.now()
    await floor.offers.phone_refused(sid, handler, offer, why, now, rules, {"call_sid": sid})
    record = await placed_record(floor, sid)
    if await _dispatch_now(floor, record, rules, now):
        return await dispatch_emergency(floor, record, "handler not dialled")
    return await requeue(floor, record, say(PromptId.HANDLER_UNAVAILABLE))


async def handler_answered(
    floor: Floor, sid: str, handler_id: str, offer: int, leg: str = ""
) -> Decision:
    """The handler answered (on their leg, `leg`; `sid` is the caller's): connect, unless the
    offer is over."""
    if not await floor.offers.answered(sid, handler_id, offer, floor.clock.now(), leg):
        return connecting.taken()
    record = await floor.calls.get(sid)
    if record is None:
        return connecting.taken()
    log.info("answered", extra={"call_sid": sid, "handler": handler_id})
    return connecting.whisper(record)


async def dial_ended(
    floor: Floor,
    sid: str,
    handler_id: str,
    offer: int,
    dial_status: str,
    bridged: str,
    call_status: str,
) -> Decision:
    """The handler's phone rang out, was busy, or the conversation is over; or the caller hung
    up while it rang (`call_status` says their own call is over): abandoned, whatever the dial.
    A handler who picked up an offer that was over was told so and hung up on: Twilio reports
    that as `completed` but not bridged, and the caller, never connected, goes back to their
    place."""
    if call_status not in CALLER_GONE:
        onward = await sent_on(floor, sid)  # the handler sent the caller on: they go now
        if onward is not None:
            return onward
    if (dial_status in ("completed", "answered") and bridged != "false") or (
        call_status in CALLER_GONE
    ):
        await finish(floor, sid)
        await offer_waiting(floor)
        if call_status in CALLER_GONE:
            return Nothing()
        return await _feedback(floor, sid, handler_id)
    missed = dial_status in ("no-answer", "busy", "canceled")
    why = Release.MISSED if missed else Release.FAILED
    rules = await floor.rulebook.active()
    now = floor.clock.now()
    await floor.offers.release(sid, handler_id, offer, now, why, rules)
    log.info("offer %s: %s", dial_status, why.value, extra={"call_sid": sid})
    record = await placed_record(floor, sid)
    # On offer to someone else already (this result came late, or again): the caller waits for
    # that offer, whose own limit applies; otherwise an emergency past its limit, or with nobody
    # else free who could take it, goes to dispatch now.
    if record.status is not CallStatus.RESERVED and await _dispatch_now(floor, record, rules, now):
        return await dispatch_emergency(floor, record, "handler missed it")
    return await requeue(floor, record, say(PromptId.HANDLER_UNAVAILABLE))


async def _feedback(floor: Floor, sid: str, handler_id: str) -> Decision:
    """The handler ended the call, the caller is still on the line: the feedback question if
    the rules ask them."""

    async def caller() -> after_call.Caller | None:
        record = await floor.calls.get(sid)
        if record is None or record.placement is None:
            return None
        placement = record.placement
        emergency = placement.priority is Priority.EMERGENCY
        return after_call.Caller(record.locale, placement.queue, emergency)

    return await after_call.after_handler(floor, sid, handler_id, caller)


async def _dispatch_now(floor: Floor, record: CallRecord, rules: RuleSet, now: float) -> bool:
    placement = record.placement
    if placement is None or placement.priority is not Priority.EMERGENCY:
        return False
    if emergency_overdue(record, rules, now):
        return True
    waited = now - (record.arrival or record.created)
    return await nobody_can_take(floor, rules, record.sid, placement.queue, waited)
