"""Placing a caller: the rules place the call and it is queued, diverted or dialled through;
putting it back in its queue at its place, sending an emergency to the dispatch line, and ending
it. Taken by the webhooks; a failure to queue is raised (CannotQueue) for them to route safely."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from config.number_policy import outside_policy
from prompts.catalogue import PromptId
from routing.calls import UnservedQueue
from routing.cases import CaseKind, opened
from routing.decisions import Decision, Dial, Enqueue, Spoken, say
from routing.dispatch_line import dispatch_dial
from routing.floor import Floor, assign_waiting
from routing.models import Answers, Call, CallFacts, CallRecord, Priority, Screen, mask
from routing.overflow import ToNumber
from routing.queues import Standing
from routing.rules import RuleSet

log = logging.getLogger(__name__)


class CannotQueue(Exception):
    """The call could not be queued (Redis unreachable, or its queue gone twice): with the
    answers it was to be placed by, and whether the rules made it an emergency."""

    def __init__(self, error: Exception, answers: Answers, emergency: bool) -> None:
        super().__init__(str(error))
        self.answers = answers
        self.emergency = emergency


class NoPlacement(Exception):
    """The call has no record, or was never placed in a queue: there is nothing to route it by."""


async def offer_waiting(floor: Floor) -> None:
    """Give free handlers the best waiting calls now; the periodic sweep catches up on failure."""
    try:
        await assign_waiting(floor, wait=False)
    except RedisError as error:
        log.warning("assignment postponed: %s", error)


async def placed_record(floor: Floor, sid: str) -> CallRecord:
    """The call's record, which has a placement; NoPlacement if it has none."""
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        raise NoPlacement(sid)
    return record


async def finish(floor: Floor, sid: str) -> None:
    outcome = await floor.calls.finish(sid, floor.clock.now())
    if outcome is not None:
        log.info("call ended: %s", outcome.value, extra={"call_sid": sid})


def emergency_dial(floor: Floor, record: CallRecord, attempt: int = 0) -> Dial:
    return dispatch_dial(
        floor.settings.ambulance_dispatch_number, record.locale, record.sid, attempt
    )


async def requeue(
    floor: Floor, record: CallRecord, spoken: tuple[Spoken, ...], redial: bool = False
) -> Decision:
    """Back into the queue at the call's original place."""
    placement = record.placement
    assert placement is not None
    now = floor.clock.now()
    try:
        queued = await floor.calls.enqueue(record.call, placement, now, redial=redial)
    except UnservedQueue:
        # Its queue went with a rule change: placed again under the active rules, in its place.
        floor.rulebook.forget()
        rules = await floor.rulebook.active()
        placement = rules.place(CallFacts.of(record.answers, record.line, now))
        resolved = rules.resolve(placement, now, await floor.queues.conditions(rules))
        placement = placement if isinstance(resolved, ToNumber) else resolved
        queued = await floor.calls.enqueue(record.call, placement, now, redial=redial)
    if queued.free_handlers:
        await offer_waiting(floor)
    return Enqueue(
        locale=record.locale, queue=placement.queue, priority=placement.priority, say=spoken
    )


async def dispatch_emergency(floor: Floor, record: CallRecord, why: str) -> Decision:
    """Straight to the ambulance dispatch line; the ambulance request goes to the clinical
    system by a job (or into the journal while it is down): never waited on here. The call
    goes through whether or not the request is queued."""
    await floor.calls.dispatch(record.sid, floor.clock.now())
    log.info("emergency sent to dispatch: %s", why, extra={"call_sid": record.sid})
    await floor.outbound.hand_off(
        f"the ambulance request of {record.sid}",
        floor.outbound.send_case,
        opened(record, CaseKind.AMBULANCE, record.caller, Priority.EMERGENCY),
        open_case=True,
    )
    return emergency_dial(floor, record)


async def nobody_can_take(
    floor: Floor,
    rules: RuleSet,
    sid: str,
    queue: str,
    waited: float,
    standing: Standing | None = None,
) -> bool:
    """A priority-1 caller still waiting in the queue, with no handler free who could take the
    call (and none finishing a wrap-up the rules wait for): the dispatch line, now. While the
    clinical system is down, with the degraded section's `emergency_dispatch_at_once`, nobody
    finishing a wrap-up is waited for. `standing`: the caller's, if just read."""
    if standing is None:
        standing = await floor.queues.standing(rules, queue, sid, floor.clock.now())
    if not standing.position:
        return False  # on offer to a handler already: their answer, or the limit, decides
    wrapping_up = standing.wrapping_up
    at_once = wrapping_up and rules.degraded.emergency_dispatch_at_once
    if at_once and (await floor.modes.current()).degraded:
        wrapping_up = 0
    return rules.emergency.dispatch_at_once(standing.free, wrapping_up, waited)


def refused(floor: Floor, diverted: ToNumber, sid: str) -> bool:
    """Whether the number policy refuses the line the rules divert to (a version activated
    before the policy was never checked against it): then it is not dialled, and the caller
    waits in the queue they were placed in."""
    why = outside_policy(diverted.number, floor.settings.policy_exceptions)
    if why:
        log.warning("not diverted to %s: %s", mask(diverted.number), why, extra={"call_sid": sid})
    return why is not None


async def place(
    floor: Floor, call: Call, gave_up: bool = False, before: tuple[Spoken, ...] = ()
) -> Decision:
    """The IVR is done (`gave_up`: on an unanswered question): the rules place the call by its
    answers, and it is queued, diverted or dialled through (an emergency with nobody on duty).
    CannotQueue if it could not be queued."""
    answers = call.answers
    locale = answers.language
    sid = call.sid
    rules = await floor.rulebook.active()
    now = floor.clock.now()
    placement = rules.place(CallFacts.of(answers, call.line, now))
    emergency = placement.priority is Priority.EMERGENCY
    try:
        for fresh in (False, True):
            if fresh:  # the rules changed since this process read them: read them again
                floor.rulebook.forget()
                rules = await floor.rulebook.active()
                placement = rules.place(CallFacts.of(answers, call.line, now))
            live = rules.needs_conditions(placement.queue) and not emergency
            conditions = await floor.queues.conditions(rules) if live else {}
            resolved = placement if emergency else rules.resolve(placement, now, conditions)
            if not isinstance(resolved, ToNumber):
                placement = resolved
            try:
                queued = await floor.calls.enqueue(call, placement, now)
                break
            except UnservedQueue:
                if fresh:
                    raise
        if isinstance(resolved, ToNumber) and not refused(floor, resolved, sid):
            await floor.calls.dispatch(sid, now, diverted=True)
            log.info("diverted: %s", resolved.because, extra={"call_sid": sid})
            return Dial(locale=locale, number=resolved.number, purpose="overflow")
        if emergency:
            # A free handler who can take it is offered it first (handlers whose wrap-up or
            # rest has just run out come back in the same step).
            await offer_waiting(floor)
            if await nobody_can_take(floor, rules, sid, placement.queue, waited=0.0):
                record = await floor.calls.get(sid)
                if record is not None:  # the enqueue above made it if it was not there
                    return await dispatch_emergency(floor, record, "nobody free who could take it")
                return dispatch_dial(floor.settings.ambulance_dispatch_number, locale, sid)
    except (RedisError, UnservedQueue) as error:
        raise CannotQueue(error, answers, emergency) from error
    log.info(
        "queued",
        extra={"call_sid": sid, "queue": placement.queue, "priority": int(placement.priority)},
    )
    if queued.free_handlers and not emergency:
        await offer_waiting(floor)
    intro = before + (say(PromptId.ROUTING_ON) if gave_up else ())
    intro += say(PromptId.EMERGENCY_CONNECTING if emergency else PromptId.QUEUED)
    if answers.screen is Screen.UNANSWERED:
        # Heard nowhere else by a caller who never answered the screen (routing/menu.py).
        intro += say(PromptId.RECORDING_NOTICE)
    return Enqueue(locale=locale, queue=placement.queue, priority=placement.priority, say=intro)
