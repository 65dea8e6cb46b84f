"""The retry loop, for a caller Lifeline cannot route just now (Redis unreachable): each turn
they hear what is happening, key 1 dials the ambulance service, and, if one is set, the fallback
line takes them after a while. When Redis is back they carry on where they were."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from ivr.context import Ivr
from ivr.forms import DialForm, GatherForm, TwilioForm
from ivr.safety import ids, safe_route, unqueued
from ivr.states import Progress
from prompts.catalogue import PromptId
from routing import menu
from routing.decisions import Ask, Decision, Dial, Enqueue, Nothing, Retry, Spoken, Step, say
from routing.menu import Given
from routing.models import Answers, CallStatus, Screen
from routing.placing import CannotQueue, place, requeue

log = logging.getLogger(__name__)

CONNECTED = frozenset({"completed", "answered", "canceled"})


async def retry(ivr: Ivr, form: GatherForm, state: Progress) -> Decision:
    """A turn of the loop: the emergency key (or the screen's answer) was pressed, or not."""
    answers = state.answers
    choice = menu.choice(Step.EMERGENCY, Given(digits=form.digits, speech=form.speech))
    if choice is not None:
        answers = menu.record(Step.EMERGENCY, answers, choice)
    decision = await carry_on(ivr, form, answers, state.turn, state.down_since)
    if answers.screen is Screen.NO and state.answers.screen is None:
        # The screen answered "no" here: that calls are recorded, as on the way in.
        return _after(say(PromptId.RECORDING_NOTICE), decision)
    return decision


async def fallback_line_result(ivr: Ivr, form: DialForm, state: Progress) -> Decision:
    """The fallback line took the call (done), or did not: the caller is back with us, never
    hung up on, and the line is tried again after another FALLBACK_LINE_AFTER_MINUTES."""
    if form.dial_status in CONNECTED:
        # Helped there: a caller still in our queue (it was down when they were put through)
        # leaves it as diverted, counted once, rather than as abandoned when the call ends.
        try:
            await ivr.floor.calls.dispatch(form.call_sid, ivr.floor.clock.now(), diverted=True)
        except RedisError as error:
            log.warning("fallback line call not recorded: %s", error, extra=ids(form))
        return Nothing()
    log.warning("fallback line %s", form.dial_status or "not connected", extra=ids(form))
    decision = await carry_on(ivr, form, state.answers, state.turn, int(ivr.floor.clock.now()))
    return _after(say(PromptId.FALLBACK_LINE_FAILED), decision)


async def carry_on(
    ivr: Ivr, form: TwilioForm, answers: Answers, turn: int, down_since: int
) -> Decision:
    """An emergency is placed at once (without Redis, the dispatch line). Otherwise, with Redis
    back, the caller goes on where they were: their place in the queue if they had one, else the
    next question or the queue; still unreachable, another turn or the fallback line."""
    if answers.screen is Screen.YES:
        try:
            return await place(ivr.floor, form.call(answers))
        except CannotQueue as failed:
            return unqueued(ivr, form.call_sid, failed)
    trouble = Progress(answers=answers, turn=turn, down_since=down_since)
    try:
        record = await ivr.floor.calls.get(form.call_sid)
    except RedisError as error:
        log.warning("still cannot route: %s", error, extra=ids(form))
        return safe_route(ivr, trouble)
    if record is not None and record.status is CallStatus.QUEUED and record.placement is not None:
        return await requeue(ivr.floor, record, say(PromptId.STILL_QUEUED))
    following = menu.next_step(answers)
    if following is not None:
        return menu.ask(following, answers, answers.language)
    try:
        return await place(ivr.floor, form.call(answers))
    except CannotQueue as failed:
        return unqueued(ivr, form.call_sid, failed, turn=turn, down_since=down_since)


def _after(before: tuple[Spoken, ...], decision: Decision) -> Decision:
    if isinstance(decision, Ask | Enqueue | Dial | Retry):
        return decision.model_copy(update={"say": before + decision.say})
    return decision
