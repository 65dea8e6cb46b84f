"""Putting a call (back) in its queue, ending it, and offering waiting calls to free handlers."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from config.number_policy import outside_policy
from ivr.context import Ivr
from ivr.forms import TwilioForm
from ivr.safety import emergency_dial, ids, safe_route
from ivr.states import Progress
from prompts.catalogue import PromptId
from routing.calls import UnservedQueue
from routing.cases import CaseKind, opened
from routing.decisions import Decision, Dial, Enqueue, Spoken, say
from routing.menu import Placed
from routing.models import Call, CallFacts, CallRecord, Priority, caller_number, mask
from routing.overflow import ToNumber
from routing.queues import Standing
from routing.rules import RuleSet

log = logging.getLogger(__name__)


async def assign_waiting(ivr: Ivr) -> None:
    """Give free handlers the best waiting calls now; the periodic sweep catches up on failure."""
    try:
        offers = await ivr.assigner.assign(await ivr.rulebook.active(), ivr.clock.now())
        await ivr.jobs.connect_all(offers, wait=False)
    except RedisError as error:
        log.warning("assignment postponed: %s", error)


async def finish(ivr: Ivr, form: TwilioForm) -> None:
    outcome = await ivr.calls.finish(form.call_sid, ivr.clock.now())
    if outcome is not None:
        log.info("call ended: %s", outcome.value, extra=ids(form))


async def requeue(
    ivr: Ivr, record: CallRecord, spoken: tuple[Spoken, ...], redial: bool = False
) -> Decision:
    """Back into the queue at the call's original place."""
    placement = record.placement
    assert placement is not None
    now = ivr.clock.now()
    try:
        queued = await ivr.calls.enqueue(record.call, placement, now, redial=redial)
    except UnservedQueue:
        # Its queue went with a rule change: placed again under the active rules, in its place.
        ivr.rulebook.forget()
        rules = await ivr.rulebook.active()
        placement = rules.place(CallFacts.of(record.answers, record.line, now))
        resolved = rules.resolve(placement, now, await ivr.queues.conditions(rules))
        placement = placement if isinstance(resolved, ToNumber) else resolved
        queued = await ivr.calls.enqueue(record.call, placement, now, redial=redial)
    if queued.free_handlers:
        await assign_waiting(ivr)
    return Enqueue(
        locale=record.locale, queue=placement.queue, priority=placement.priority, say=spoken
    )


async def dispatch_emergency(ivr: Ivr, record: CallRecord, why: str) -> Decision:
    """Straight to the ambulance dispatch line; the ambulance request goes to the clinical
    system by a job (or into the journal while it is down): never waited on here. The call
    goes through whether or not the request is queued."""
    await ivr.calls.dispatch(record.sid, ivr.clock.now())
    log.info("emergency sent to dispatch: %s", why, extra={"call_sid": record.sid})
    await ivr.jobs.hand_off(
        f"the ambulance request of {record.sid}",
        ivr.jobs.send_case,
        opened(record, CaseKind.AMBULANCE, record.caller, Priority.EMERGENCY),
        open_case=True,
    )
    return emergency_dial(ivr, record.locale, record.sid)


async def nobody_can_take(
    ivr: Ivr, rules: RuleSet, sid: str, queue: str, waited: float, standing: Standing | None = None
) -> bool:
    """A priority-1 caller still waiting in the queue, with no handler free who could take the
    call (and none finishing a wrap-up the rules wait for): the dispatch line, now. While the
    clinical system is down, with the degraded section's `emergency_dispatch_at_once`, nobody
    finishing a wrap-up is waited for. `standing`: the caller's, if just read."""
    if standing is None:
        standing = await ivr.queues.standing(rules, queue, sid, ivr.clock.now())
    if not standing.position:
        return False  # on offer to a handler already: their answer, or the limit, decides
    wrapping_up = standing.wrapping_up
    at_once = wrapping_up and rules.degraded.emergency_dispatch_at_once
    if at_once and (await ivr.modes.current()).degraded:
        wrapping_up = 0
    return rules.emergency.dispatch_at_once(standing.free, wrapping_up, waited)


def refused(ivr: Ivr, diverted: ToNumber, form: TwilioForm) -> bool:
    """Whether the number policy refuses the line the rules divert to (a version activated
    before the policy was never checked against it): then it is not dialled, and the caller
    waits in the queue they were placed in."""
    why = outside_policy(diverted.number, ivr.settings.policy_exceptions)
    if why:
        log.warning("not diverted to %s: %s", mask(diverted.number), why, extra=ids(form))
    return why is not None


async def place(
    ivr: Ivr,
    form: TwilioForm,
    placed: Placed,
    turn: int = 0,
    before: tuple[Spoken, ...] = (),
    down_since: int = 0,
) -> Decision:
    """The IVR is done: the rules place the call, and it is queued, diverted or dialled through
    (an emergency with nobody on duty). `down_since`: from a retry while Redis was unreachable."""
    answers = placed.answers
    locale = answers.language
    call = Call(
        sid=form.call_sid, caller=caller_number(form.caller), line=form.called, answers=answers
    )
    rules = await ivr.rulebook.active()
    now = ivr.clock.now()
    placement = rules.place(CallFacts.of(answers, form.called, now))
    emergency = placement.priority is Priority.EMERGENCY
    try:
        for fresh in (False, True):
            if fresh:  # the rules changed since this process read them: read them again
                ivr.rulebook.forget()
                rules = await ivr.rulebook.active()
                placement = rules.place(CallFacts.of(answers, form.called, now))
            live = rules.needs_conditions(placement.queue) and not emergency
            conditions = await ivr.queues.conditions(rules) if live else {}
            resolved = placement if emergency else rules.resolve(placement, now, conditions)
            if not isinstance(resolved, ToNumber):
                placement = resolved
            try:
                queued = await ivr.calls.enqueue(call, placement, now)
                break
            except UnservedQueue:
                if fresh:
                    raise
        if isinstance(resolved, ToNumber) and not refused(ivr, resolved, form):
            await ivr.calls.dispatch(form.call_sid, now, diverted=True)
            log.info("diverted: %s", resolved.because, extra=ids(form))
            return Dial(locale=locale, number=resolved.number, purpose="overflow")
        if emergency:
            # A free handler who can take it is offered it first (handlers whose wrap-up or
            # rest has just run out come back in the same step).
            await assign_waiting(ivr)
            if await nobody_can_take(ivr, rules, form.call_sid, placement.queue, waited=0.0):
                record = await ivr.calls.get(form.call_sid)
                if record is not None:  # the enqueue above made it if it was not there
                    return await dispatch_emergency(ivr, record, "nobody free who could take it")
                return emergency_dial(ivr, locale, form.call_sid)
    except (RedisError, UnservedQueue) as error:
        log.warning("cannot queue: %s", error, extra=ids(form))
        if emergency:
            return emergency_dial(ivr, locale, form.call_sid)
        return safe_route(ivr, Progress(answers=answers, turn=turn, down_since=down_since))
    log.info(
        "queued",
        extra=ids(form) | {"queue": placement.queue, "priority": int(placement.priority)},
    )
    if queued.free_handlers and not emergency:
        await assign_waiting(ivr)
    intro = before + (say(PromptId.ROUTING_ON) if placed.gave_up else ())
    intro += say(PromptId.EMERGENCY_CONNECTING if emergency else PromptId.QUEUED)
    return Enqueue(locale=locale, queue=placement.queue, priority=placement.priority, say=intro)
