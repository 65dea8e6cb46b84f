"""A call from ring to queue: the IVR questions, placing the call, the hold loop, leaving the queue,
the dispatch line, and status callbacks."""

from __future__ import annotations

import logging
import math

from redis.exceptions import RedisError

from ivr.context import Ivr
from ivr.forms import DialForm, GatherForm, HoldForm, QueueExitForm, StatusForm, TwilioForm
from ivr.safety import RETRY_PAUSE_SECONDS, emergency_dial, ids, safe_route, unqueued
from ivr.states import Asked, DialResult, Progress, State
from prompts.catalogue import Locale, PromptId
from routing import menu
from routing.callback_booking import CALLBACK_STEPS, start_callback
from routing.calls import Opened, UnservedQueue
from routing.decisions import Ask, Decision, Hold, Leave, Nothing, Retry, Spoken, Step, say
from routing.hold import emergency_deadline, hold_turn
from routing.menu import Given, Placed
from routing.models import (
    Answers,
    CallFacts,
    CallRecord,
    CallStatus,
    Priority,
    Screen,
    caller_number,
)
from routing.offers import Release
from routing.overflow import ToNumber
from routing.placing import (
    CannotQueue,
    NoPlacement,
    dispatch_emergency,
    finish,
    nobody_can_take,
    offer_waiting,
    place,
    requeue,
)
from routing.rules import RuleSet

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


LEFT_US = frozenset({"hangup", "redirected", "bridged", "redirected-from-bridged"})
# Twilio's queue would not keep the caller: going straight back into it would only loop.
TURNED_AWAY = frozenset({"queue-full", "error", "system-shutdown"})


MAX_DISPATCH_ATTEMPTS = 3
QUEUE_FULL_PAUSE_SECONDS = 20


RESERVED_PAUSE_SECONDS = 2
CONNECT_GRACE_SECONDS = 5  # an emergency's offer not put through by then is taken back


async def voice(ivr: Ivr, form: TwilioForm, state: Progress) -> Decision:
    """A call comes in: the record is created once, and the first question asked."""
    welsh_line = form.called in ivr.settings.welsh_line_numbers
    caller = caller_number(form.caller)
    known = Opened(recognised=False, callback="")
    try:
        known = await ivr.calls.open(form.call_sid, caller, form.called, Locale.EN, ivr.clock.now())
    except RedisError as error:
        log.warning("call record not created: %s", error, extra={"call_sid": form.call_sid})
    answers = Answers(
        locale=None if welsh_line else Locale.EN,
        repeat=known.recognised,
        has_callback=bool(known.callback),
    )
    return menu.start(answers)


async def step(ivr: Ivr, form: GatherForm, state: Asked) -> Decision:
    current = Step(state.step)
    given = Given(digits=form.digits, speech=form.speech)
    try:
        if current in CALLBACK_STEPS:
            return await CALLBACK_STEPS[current](
                ivr.floor, form.call(state.answers), state.attempt, given
            )
        outcome = menu.advance(current, state.answers, state.attempt, given)
        before = await outage_notice(ivr, current, outcome)
        if isinstance(outcome, Ask):
            return outcome.model_copy(update={"say": before + outcome.say}) if before else outcome
        return await place(ivr.floor, form.call(outcome.answers), outcome.gave_up, before)
    except NoPlacement:
        return safe_route(ivr, state)
    except CannotQueue as failed:
        return unqueued(ivr, form.call_sid, failed)


async def outage_notice(ivr: Ivr, current: Step, outcome: Ask | Placed) -> tuple[Spoken, ...]:
    """While degraded, a caller past the emergency screen (not an emergency) hears the
    supervisors' outage message first; an emergency hears nothing that would delay them."""
    answers = outcome.answers
    if current is not Step.EMERGENCY or answers.screen in (None, Screen.YES):
        return ()
    try:
        mode = await ivr.modes.current()
        if not mode.degraded or not (await ivr.rulebook.active()).degraded.announce:
            return ()
        text = (await ivr.modes.message()).text(answers.language)
    except RedisError:
        return ()
    return (Spoken.of(PromptId.OUTAGE_MESSAGE, message=text),)


async def resume(ivr: Ivr, form: TwilioForm, state: Progress) -> Decision:
    """Carry on from the answers in the URL: the next question, or placing the call."""
    following = menu.next_step(state.answers)
    if following is not None:
        return menu.ask(following, state.answers, state.language)
    try:
        return await place(ivr.floor, form.call(state.answers))
    except CannotQueue as failed:
        return unqueued(ivr, form.call_sid, failed, turn=state.turn)


async def hold(ivr: Ivr, form: HoldForm, state: Progress) -> Decision:
    """One turn of the queue's wait loop."""
    try:
        record = await ivr.calls.get(form.call_sid)
    except RedisError:
        return await _hold_without_redis(ivr, form, state)
    locale = record.locale if record else state.language
    now = ivr.clock.now()
    emergency = (
        record is not None
        and record.placement is not None
        and record.placement.priority is Priority.EMERGENCY
    )
    if emergency and record is not None and record.status is CallStatus.QUEUED:
        # Handlers whose wrap-up or rest just ended come back, and a free one is offered it,
        # before anyone decides nobody could take it.
        await offer_waiting(ivr.floor)
        record = await ivr.calls.get(form.call_sid)
    if emergency and record is not None and record.status is CallStatus.RESERVED:
        return await _emergency_on_offer(ivr, record, now, state)
    if record is not None and record.status in (CallStatus.DISPATCHED, CallStatus.DIVERTED):
        # Sent to a number, yet waiting here (a late redirect pulled them off it): the queue's
        # exit puts them through again, or back in their place.
        return Leave()
    if record is None or record.status is not CallStatus.QUEUED or record.placement is None:
        # Being connected to a handler (a redirect is on its way), or the record is gone.
        spoken = () if record else say(PromptId.HOLD_ON)
        return Hold(
            locale=locale,
            priority=state.priority or Priority.STANDARD,
            say=spoken,
            pause_seconds=RESERVED_PAUSE_SECONDS if record else RETRY_PAUSE_SECONDS,
            turn=state.turn,
        )
    rules = await ivr.rulebook.active()
    record = await _follow_overflow(ivr, record, rules)
    assert record.placement is not None
    # The position and wait among the calls the handlers who can take this one would take first.
    standing = await ivr.queues.standing(rules, record.placement.queue, record.sid, now)
    position, on_duty = max(1, standing.position), standing.skilled_on_duty
    dispatch_now = False
    if record.placement.priority is Priority.EMERGENCY:
        # Looked at again every few seconds: nobody who could take it free any more (the last
        # one went on a call or a break), the dispatch line now.
        waited = now - (record.arrival or record.created)
        dispatch_now = await nobody_can_take(
            ivr.floor, rules, record.sid, record.placement.queue, waited, standing
        )
    turn = hold_turn(record, position, on_duty, rules, now, state.turn, dispatch_now=dispatch_now)
    if isinstance(turn, Hold) and turn.offer is not None:
        if record.caller and await ivr.callbacks.live_for(record.caller) is not None:
            return turn.model_copy(update={"offer": None})  # one live callback per caller
        await ivr.callbacks.offered(record.sid, record.placement.priority, now)
    return turn


async def _emergency_on_offer(
    ivr: Ivr, record: CallRecord, now: float, state: Progress
) -> Decision:
    """An emergency offered to a handler is still in the wait loop, so the redirect that puts
    them through has not come. They hear that they are being connected, every few seconds; an
    offer whose redirect has not come within `CONNECT_GRACE_SECONDS` (a worker slow or down, a
    REST error), or that has run to the limit, is taken back and the caller leaves the queue,
    whose exit puts them through to the dispatch line (Twilio allows no <Dial> in the wait
    loop)."""
    rules = await ivr.rulebook.active()
    offered = record.reserved_at if record.reserved_at is not None else now
    remaining = emergency_deadline(record, rules) - now
    if (now - offered >= CONNECT_GRACE_SECONDS or remaining <= 0) and record.handler:
        released = await ivr.offers.release(
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
        turn=state.turn,
    )


async def _follow_overflow(ivr: Ivr, record: CallRecord, rules: RuleSet) -> CallRecord:
    """Conditions change while a caller waits (the last Welsh speaker logs off): move them, in
    their place, to where the rules would send them now. Numbers are offered only on arrival."""
    if record.placement is None or not rules.needs_conditions(
        rules.place(CallFacts.of(record.answers, record.line, ivr.clock.now())).queue
    ):
        return record
    if record.placement.priority is Priority.EMERGENCY:
        return record
    now = ivr.clock.now()
    placement = rules.place(CallFacts.of(record.answers, record.line, now))
    resolved = rules.resolve(placement, now, await ivr.queues.conditions(rules))
    if isinstance(resolved, ToNumber) or resolved.queue == record.placement.queue:
        return record
    try:
        await ivr.calls.enqueue(record.call, resolved, now)
    except UnservedQueue:  # the rules changed meanwhile: the next turn follows the new ones
        ivr.rulebook.forget()
        return record
    log.info("moved to %s by overflow", resolved.queue, extra={"call_sid": record.sid})
    return record.model_copy(update={"placement": resolved})


async def _hold_without_redis(ivr: Ivr, form: HoldForm, state: Progress) -> Decision:
    """Redis is gone: an emergency still leaves for the dispatch line on time, by Twilio's clock.
    Anyone else hears what is happening; if Redis is still gone a turn later (a blip moves
    nobody), they leave Twilio's queue, keeping their place in ours, for the retry loop: key 1
    live, the fallback line after a while (the wait loop can do neither)."""
    if state.priority is Priority.EMERGENCY:
        # Nobody can be offered the call while Redis is gone: the dispatch line, now, from the
        # queue's exit (which needs nothing but the settings).
        return Leave()
    if state.down_since:
        return Leave()
    return Hold(
        locale=state.language,
        priority=state.priority or Priority.STANDARD,
        say=say(PromptId.SYSTEM_PROBLEM, PromptId.SAFETY_NET),
        pause_seconds=RETRY_PAUSE_SECONDS,
        turn=state.turn,
        down_since=int(ivr.clock.now()),
    )


async def queue_exit(ivr: Ivr, form: QueueExitForm, state: Progress) -> Decision:
    """The call left Twilio's queue: hung up, moved on by us, or sent on by `<Leave>`."""
    if form.queue_result in LEFT_US:
        if form.queue_result == "hangup":
            await finish(ivr.floor, form.call_sid)
        return Nothing()
    locale = state.language
    try:
        record = await ivr.calls.get(form.call_sid)
        if record is None or record.placement is None:
            return safe_route(ivr, state)
        if record.placement.priority is Priority.EMERGENCY:  # before anything else
            return await dispatch_emergency(ivr.floor, record, "limit reached")
        if record.callback_requested:
            return start_callback(record)
        if record.status is CallStatus.DIVERTED:  # pulled off its number: back in its place
            return await requeue(ivr.floor, record, say(PromptId.STILL_QUEUED), redial=True)
        if form.queue_result in TURNED_AWAY:
            # Twilio's waiting room is full (1,000 calls by default) or failing, not ours: the
            # caller keeps their place here and holds outside it, the emergency key live, then
            # tries again. A handler free meanwhile still reaches them: connecting redirects the
            # call wherever it is.
            log.warning(
                "Twilio's queue %s: %s",
                record.placement.queue,
                form.queue_result,
                extra=ids(form),
            )
            return Retry(
                locale=locale,
                answers=record.answers.model_copy(update={"locale": record.locale}),
                say=say(PromptId.STILL_QUEUED),
                pause_seconds=QUEUE_FULL_PAUSE_SECONDS,
                turn=state.turn,
            )
        return await requeue(ivr.floor, record, say(PromptId.STILL_QUEUED))
    except RedisError:
        if state.priority is Priority.EMERGENCY:
            return emergency_dial(ivr, locale, form.call_sid)
        return safe_route(ivr, state)


async def dispatch_result(ivr: Ivr, form: DialForm, state: DialResult) -> Decision:
    """The dispatch line answered (done), or did not: try again, then hold at the front. A
    diverted call whose number did not answer comes back to its place in the queue."""
    if form.dial_status in ("completed", "answered", "canceled") or form.call_status in (
        FINAL_STATUSES
    ):
        return Nothing()  # through, or the caller hung up meanwhile
    if state.purpose == "overflow":
        try:
            record = await ivr.calls.get(form.call_sid)
            if record is None or record.placement is None:
                return safe_route(ivr, state)
            return await requeue(ivr.floor, record, say(PromptId.STILL_QUEUED), redial=True)
        except RedisError:  # not an emergency: what is happening, the key live, never dispatch
            return safe_route(ivr, state)
    attempt = state.attempt + 1
    log.warning("dispatch line %s (attempt %d)", form.dial_status, attempt, extra=ids(form))
    try:
        record = await ivr.calls.get(form.call_sid)
    except RedisError:
        record = None
    locale = record.locale if record else state.language
    if attempt < MAX_DISPATCH_ATTEMPTS or record is None or record.placement is None:
        return emergency_dial(ivr, locale, form.call_sid, attempt)
    try:
        return await requeue(ivr.floor, record, say(PromptId.EMERGENCY_CONNECTING), redial=True)
    except RedisError:
        return emergency_dial(ivr, locale, form.call_sid, attempt)


async def status(ivr: Ivr, form: StatusForm, state: State) -> Decision:
    """Status callbacks come repeated and out of order; only a final one changes anything, once."""
    if form.call_status in FINAL_STATUSES:
        await finish(ivr.floor, form.call_sid)
    return Nothing()
