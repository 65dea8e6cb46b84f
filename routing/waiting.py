"""The wait in the queue: each turn of the hold loop (position, wait, the callback offer, an
emergency that stops waiting), and the caller sent on from Twilio's queue."""

from __future__ import annotations

import logging
import math

from prompts.catalogue import Locale, PromptId
from routing.callback_booking import start_callback
from routing.calls import UnservedQueue
from routing.decisions import Decision, Hold, Leave, Retry, say
from routing.floor import Floor
from routing.hold import emergency_deadline, hold_turn
from routing.models import CallFacts, CallRecord, CallStatus, Priority
from routing.offers import Release
from routing.overflow import ToNumber
from routing.placing import NoPlacement, dispatch_emergency, nobody_can_take, offer_waiting, requeue
from routing.rules import ONWARD_ROUTE, RuleSet

log = logging.getLogger(__name__)

# Twilio's queue would not keep the caller: going straight back into it would only loop.
TURNED_AWAY = frozenset({"queue-full", "error", "system-shutdown"})
QUEUE_FULL_PAUSE_SECONDS = 20

RETRY_PAUSE_SECONDS = 15  # a caller we cannot route just now comes back after this
RESERVED_PAUSE_SECONDS = 2
CONNECT_GRACE_SECONDS = 5  # an emergency's offer not put through by then is taken back


async def hold(
    floor: Floor, record: CallRecord | None, language: Locale, priority: Priority | None, turn: int
) -> Decision:
    """One turn of the queue's wait loop, for the caller's record (None: gone); `language`,
    `priority` and `turn`: as the wait loop's URL carries them."""
    locale = record.locale if record else language
    now = floor.clock.now()
    emergency = (
        record is not None
        and record.placement is not None
        and record.placement.priority is Priority.EMERGENCY
    )
    if emergency and record is not None and record.status is CallStatus.QUEUED:
        # Handlers whose wrap-up or rest just ended come back, and a free one is offered it,
        # before anyone decides nobody could take it.
        await offer_waiting(floor)
        record = await floor.calls.get(record.sid)
    if emergency and record is not None and record.status is CallStatus.RESERVED:
        return await _emergency_on_offer(floor, record, now, turn)
    if record is not None and record.status in (CallStatus.DISPATCHED, CallStatus.DIVERTED):
        # Sent to a number, yet waiting here (a late redirect pulled them off it): the queue's
        # exit puts them through again, or back in their place.
        return Leave()
    if record is None or record.status is not CallStatus.QUEUED or record.placement is None:
        # Being connected to a handler (a redirect is on its way), or the record is gone.
        spoken = () if record else say(PromptId.HOLD_ON)
        return Hold(
            locale=locale,
            priority=priority or Priority.STANDARD,
            say=spoken,
            pause_seconds=RESERVED_PAUSE_SECONDS if record else RETRY_PAUSE_SECONDS,
            turn=turn,
        )
    rules = await floor.rulebook.active()
    record = await _follow_overflow(floor, record, rules)
    assert record.placement is not None
    # The position and wait among the calls the handlers who can take this one would take first.
    standing = await floor.queues.standing(rules, record.placement.queue, record.sid, now)
    position, on_duty = max(1, standing.position), standing.skilled_on_duty
    dispatch_now = False
    if record.placement.priority is Priority.EMERGENCY:
        # Looked at again every few seconds: nobody who could take it free any more (the last
        # one went on a call or a break), the dispatch line now.
        waited = now - (record.arrival or record.created)
        dispatch_now = await nobody_can_take(
            floor, rules, record.sid, record.placement.queue, waited, standing
        )
    decided = hold_turn(record, position, on_duty, rules, now, turn, dispatch_now=dispatch_now)
    if isinstance(decided, Hold) and decided.offer is not None:
        if record.caller and await floor.callbacks.live_for(record.caller) is not None:
            return decided.model_copy(update={"offer": None})  # one live callback per caller
        await floor.callbacks.offered(record.sid, record.placement.priority, now)
    return decided


async def _emergency_on_offer(floor: Floor, record: CallRecord, now: float, turn: int) -> Decision:
    """An emergency offered to a handler is still in the wait loop, so the redirect that puts
    them through has not come. They hear that they are being connected, every few seconds; an
    offer whose redirect has not come within `CONNECT_GRACE_SECONDS` (a worker slow or down, a
    REST error), or that has run to the limit, is taken back and the caller leaves the queue,
    whose exit puts them through to the dispatch line (Twilio allows no <Dial> in the wait
    loop)."""
    rules = await floor.rulebook.active()
    offered = record.reserved_at if record.reserved_at is not None else now
    remaining = emergency_deadline(record, rules) - now
    if (now - offered >= CONNECT_GRACE_SECONDS or remaining <= 0) and record.handler:
        released = await floor.offers.release(
            record.sid, record.handler, record.offers, now, Release.FAILED, rules
        )
        if released:
            log.warning(
                "emergency's offer not connected in time: leaving for dispatch",
                extra={"call_sid": record.sid},
            )
            return Leave()
    return Hold(
        locale=record.locale,
        priority=Priority.EMERGENCY,
        say=say(PromptId.EMERGENCY_STAY),
        pause_seconds=max(1, min(math.ceil(remaining), rules.emergency.reassure_every_seconds)),
        turn=turn,
    )


async def _follow_overflow(floor: Floor, record: CallRecord, rules: RuleSet) -> CallRecord:
    """Conditions change while a caller waits (the last Welsh speaker logs off): move them, in
    their place, to where the rules would send them now. Numbers are offered only on arrival."""
    if record.placement is None or not rules.needs_conditions(
        rules.place(CallFacts.of(record.answers, record.line, floor.clock.now())).queue
    ):
        return record
    if record.placement.priority is Priority.EMERGENCY or record.placement.route.startswith(
        ONWARD_ROUTE
    ):
        return record  # a handler sent them to a clinician: they wait for one
    now = floor.clock.now()
    placement = rules.place(CallFacts.of(record.answers, record.line, now))
    resolved = rules.resolve(placement, now, await floor.queues.conditions(rules))
    if isinstance(resolved, ToNumber) or resolved.queue == record.placement.queue:
        return record
    try:
        await floor.calls.enqueue(record.call, resolved, now)
    except UnservedQueue:  # the rules changed meanwhile: the next turn follows the new ones
        floor.rulebook.forget()
        return record
    log.info("moved to %s by overflow", resolved.queue, extra={"call_sid": record.sid})
    return record.model_copy(update={"placement": resolved})


async def left_queue(
    floor: Floor, sid: str, queue_result: str, language: Locale, turn: int
) -> Decision:
    """The call was sent on from Twilio's queue by `<Leave>`, or turned away by it
    (`queue_result`): an emergency to the dispatch line, a callback asked for, a diverted call
    back in its place, or a caller turned away holding outside it. NoPlacement: no record."""
    locale = language
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        raise NoPlacement(sid)
    if record.placement.priority is Priority.EMERGENCY:  # before anything else
        return await dispatch_emergency(floor, record, "limit reached")
    if record.callback_requested:
        return start_callback(record)
    if record.status is CallStatus.DIVERTED:  # pulled off its number: back in its place
        return await requeue(floor, record, say(PromptId.STILL_QUEUED), redial=True)
    if queue_result in TURNED_AWAY:
        # Twilio's waiting room is full (1,000 calls by default) or failing, not ours: the
        # caller keeps their place here and holds outside it, the emergency key live, then
        # tries again. A handler free meanwhile still reaches them: connecting redirects the
        # call wherever it is.
        log.warning(
            "Twilio's queue %s: %s",
            record.placement.queue,
            queue_result,
            extra={"call_sid": sid},
        )
        return Retry(
            locale=locale,
            answers=record.answers.model_copy(update={"locale": record.locale}),
            say=say(PromptId.STILL_QUEUED),
            pause_seconds=QUEUE_FULL_PAUSE_SECONDS,
            turn=turn,
        )
    return await requeue(floor, record, say(PromptId.STILL_QUEUED))
