"""A call from ring to queue, as webhooks: the IVR questions, placing the call, the hold loop,
leaving the queue, the dispatch line, and status callbacks; each passes the request to routing and
answers safely what routing cannot (Redis unreachable, a call with no placement)."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from ivr.context import Ivr
from ivr.forms import DialForm, GatherForm, HoldForm, QueueExitForm, StatusForm, TwilioForm
from ivr.safety import emergency_dial, ids, safe_route, unqueued
from ivr.states import Asked, DialResult, Progress, State
from prompts.catalogue import PromptId
from routing import menu, waiting
from routing.answering import answer
from routing.arrival import arrive
from routing.decisions import Decision, Hold, Leave, Nothing, Step, say
from routing.menu import Given
from routing.models import Priority, caller_number
from routing.placing import CannotQueue, NoPlacement, finish, place, placed_record, requeue
from routing.waiting import RETRY_PAUSE_SECONDS

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


LEFT_US = frozenset({"hangup", "redirected", "bridged", "redirected-from-bridged"})


MAX_DISPATCH_ATTEMPTS = 3


async def voice(ivr: Ivr, form: TwilioForm, state: Progress) -> Decision:
    """A call comes in: the record is created once, and the first question asked."""
    return await arrive(ivr.floor, form.call_sid, caller_number(form.caller), form.called)


async def step(ivr: Ivr, form: GatherForm, state: Asked) -> Decision:
    try:
        return await answer(
            ivr.floor,
            form.call(state.answers),
            Step(state.step),
            state.attempt,
            Given(digits=form.digits, speech=form.speech),
        )
    except NoPlacement:
        return safe_route(ivr, state)
    except CannotQueue as failed:
        return unqueued(ivr, form.call_sid, failed)


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
        record = await ivr.floor.calls.get(form.call_sid)
    except RedisError:
        return _hold_without_redis(ivr, state)
    return await waiting.hold(ivr.floor, record, state.language, state.priority, state.turn)


def _hold_without_redis(ivr: Ivr, state: Progress) -> Decision:
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
        down_since=int(ivr.floor.clock.now()),
    )


async def queue_exit(ivr: Ivr, form: QueueExitForm, state: Progress) -> Decision:
    """The call left Twilio's queue: hung up, moved on by us, or sent on by `<Leave>`."""
    if form.queue_result in LEFT_US:
        if form.queue_result == "hangup":
            await finish(ivr.floor, form.call_sid)
        return Nothing()
    locale = state.language
    try:
        return await waiting.left_queue(
            ivr.floor, form.call_sid, form.queue_result, locale, state.turn
        )
    except NoPlacement:
        return safe_route(ivr, state)
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
            diverted = await placed_record(ivr.floor, form.call_sid)
            return await requeue(ivr.floor, diverted, say(PromptId.STILL_QUEUED), redial=True)
        except (NoPlacement, RedisError):  # not an emergency: the key live, never dispatch
            return safe_route(ivr, state)
    attempt = state.attempt + 1
    log.warning("dispatch line %s (attempt %d)", form.dial_status, attempt, extra=ids(form))
    try:
        record = await ivr.floor.calls.get(form.call_sid)
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
