"""Twilio webhooks: parse the form, let routing decide, render TwiML. Nothing here hangs up on a
caller: whatever fails, the answer is TwiML that still routes them, the emergency path first."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ivr import urls
from ivr.context import Ivr
from ivr.forms import (
    DialForm,
    FallbackForm,
    GatherForm,
    HoldForm,
    QueueExitForm,
    StatusForm,
    TwilioForm,
)
from ivr.signature import BadSignature, BodyTooLarge, parse_form, signed_params
from ivr.urls import IvrState, state_from_query
from prompts.catalogue import Locale, PromptId
from routing import connecting, menu
from routing.callbacks import spoken_digits, uk_number
from routing.decisions import (
    Ask,
    Continue,
    Decision,
    Dial,
    Enqueue,
    Goodbye,
    Hold,
    Leave,
    Nothing,
    Retry,
    Spoken,
    Step,
    say,
)
from routing.hold import hold_turn
from routing.menu import Given, Placed
from routing.models import (
    Answers,
    CallFacts,
    CallRecord,
    CallStatus,
    Priority,
    Screen,
    caller_number,
    case_id_for,
)
from routing.offers import Release
from routing.overflow import ToNumber
from routing.rules import RuleSet

log = logging.getLogger(__name__)

FormT = TypeVar("FormT", bound=BaseModel)
Handler = Callable[[Ivr, FormT, IvrState], Awaitable[Decision]]

NEW = IvrState()
WEBHOOK_BUDGET_SECONDS = 5.0  # far inside Twilio's 15 s, leaving time for the safe answer
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LEFT_US = frozenset({"hangup", "redirected", "bridged", "redirected-from-bridged"})
MAX_DISPATCH_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 15
RESERVED_PAUSE_SECONDS = 2


def emergency_dial(ivr: Ivr, locale: Locale, attempt: int = 0, fallback: bool = False) -> Dial:
    return Dial(
        locale=locale,
        number=ivr.settings.ambulance_dispatch_number,
        say=say(PromptId.AMBULANCE_CONNECTING),
        attempt=attempt,
        fallback=fallback,
    )


def safe_route(ivr: Ivr, state: IvrState) -> Decision:
    """After a failure we cannot place: technical difficulties, the emergency key live, retry."""
    locale = state.locale or Locale.EN
    return Retry(
        locale=locale,
        answers=state.answers.model_copy(update={"locale": locale}),
        say=say(PromptId.TECHNICAL_DIFFICULTY),
        pause_seconds=RETRY_PAUSE_SECONDS,
        turn=state.turn,
    )


def safe_dispatch(ivr: Ivr, state: IvrState) -> Decision:
    """The dispatch line's result could not be handled: put the emergency through again."""
    return emergency_dial(ivr, state.locale or Locale.EN, state.attempt + 1)


def safe_hold(ivr: Ivr, state: IvrState) -> Decision:
    """Inside the queue's wait loop only wait-loop verbs are allowed: hold on and come back."""
    return Hold(
        locale=state.locale or Locale.EN,
        priority=state.priority or Priority.STANDARD,
        say=say(PromptId.HOLD_ON),
        pause_seconds=RETRY_PAUSE_SECONDS,
        turn=state.turn,
    )


async def voice(ivr: Ivr, form: TwilioForm, state: IvrState) -> Decision:
    """A call comes in: the record is created once, and the first question asked."""
    welsh_line = form.called in ivr.settings.welsh_line_numbers
    caller = caller_number(form.caller)
    recognised = False
    try:
        recognised = await ivr.calls.open(
            form.call_sid, caller, form.called, Locale.EN, ivr.clock.now()
        )
    except RedisError as error:
        log.warning("call record not created: %s", error, extra={"call_sid": form.call_sid})
    return menu.start(Answers(locale=None if welsh_line else Locale.EN, repeat=recognised))


async def step(ivr: Ivr, form: GatherForm, state: IvrState) -> Decision:
    current = Step(state.step)
    given = Given(digits=form.digits, speech=form.speech)
    if current in CALLBACK_STEPS:
        return await CALLBACK_STEPS[current](ivr, form, state, given)
    outcome = menu.advance(current, state.answers, state.attempt, given)
    if isinstance(outcome, Ask):
        return outcome
    return await place(ivr, form, outcome)


async def resume(ivr: Ivr, form: TwilioForm, state: IvrState) -> Decision:
    """Carry on from the answers in the URL: the next question, or placing the call."""
    following = menu.next_step(state.answers)
    if following is not None:
        return menu.ask(following, state.answers, state.locale or Locale.EN)
    return await place(ivr, form, Placed(answers=state.answers, gave_up=False), turn=state.turn)


async def place(ivr: Ivr, form: TwilioForm, placed: Placed, turn: int = 0) -> Decision:
    answers = placed.answers
    locale = answers.locale or Locale.EN
    rules = await ivr.rulebook.active()
    placement = rules.place(CallFacts.of(answers, form.called))
    emergency = placement.priority is Priority.EMERGENCY
    now = ivr.clock.now()
    try:
        resolved = (
            placement
            if emergency
            else rules.resolve(placement, now, await ivr.queues.conditions(rules))
        )
        if not isinstance(resolved, ToNumber):
            placement = resolved
        queued = await ivr.calls.enqueue(
            form.call_sid, caller_number(form.caller), form.called, answers, placement, now
        )
        if isinstance(resolved, ToNumber):
            await ivr.calls.dispatch(form.call_sid, now, diverted=True)
            log.info("diverted: %s", resolved.because, extra=_ids(form))
            return Dial(locale=locale, number=resolved.number, purpose="overflow")
        if emergency and await ivr.handlers.on_duty() == 0:
            await ivr.calls.dispatch(form.call_sid, now)
            log.info("emergency sent to dispatch: no handler on duty", extra=_ids(form))
            return emergency_dial(ivr, locale)
    except RedisError as error:
        log.warning("cannot queue: %s", error, extra=_ids(form))
        if emergency:
            return emergency_dial(ivr, locale)
        return safe_route(ivr, IvrState(**answers.model_dump(), turn=turn))
    log.info(
        "queued",
        extra=_ids(form) | {"queue": placement.queue, "priority": int(placement.priority)},
    )
    if queued.free_handlers:
        await assign_waiting(ivr)
    intro = say(PromptId.ROUTING_ON) if placed.gave_up else ()
    intro += say(PromptId.EMERGENCY_CONNECTING if emergency else PromptId.QUEUED)
    return Enqueue(locale=locale, queue=placement.queue, priority=placement.priority, say=intro)


async def hold(ivr: Ivr, form: HoldForm, state: IvrState) -> Decision:
    """One turn of the queue's wait loop."""
    try:
        record = await ivr.calls.get(form.call_sid)
    except RedisError:
        return await _hold_without_redis(ivr, form, state)
    locale = record.locale if record else state.locale or Locale.EN
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
    position = await ivr.queues.position(record.placement.queue, record.sid) or 1
    on_duty = await ivr.handlers.on_duty()
    return hold_turn(record, position, on_duty, rules, ivr.clock.now(), state.turn)


async def _follow_overflow(ivr: Ivr, record: CallRecord, rules: RuleSet) -> CallRecord:
    """Conditions change while a caller waits (the last Welsh speaker logs off): move them, in
    their place, to where the rules would send them now. Numbers are offered only on arrival."""
    if record.placement is None or not rules.needs_conditions(
        rules.place(CallFacts.of(record.answers, record.line)).queue
    ):
        return record
    if record.placement.priority is Priority.EMERGENCY:
        return record
    now = ivr.clock.now()
    placement = rules.place(CallFacts.of(record.answers, record.line))
    resolved = rules.resolve(placement, now, await ivr.queues.conditions(rules))
    if isinstance(resolved, ToNumber) or resolved.queue == record.placement.queue:
        return record
    await ivr.calls.enqueue(record.sid, record.caller, record.line, record.answers, resolved, now)
    log.info("moved to %s by overflow", resolved.queue, extra={"call_sid": record.sid})
    return record.model_copy(update={"placement": resolved})


async def _hold_without_redis(ivr: Ivr, form: HoldForm, state: IvrState) -> Decision:
    """Redis is gone: an emergency still leaves for the dispatch line on time, by Twilio's clock."""
    rules = await ivr.rulebook.active()
    if state.priority is Priority.EMERGENCY:
        remaining = rules.emergency.handler_limit_seconds - form.queue_time
        if remaining <= 0:
            return Leave()
        return Hold(
            locale=state.locale or Locale.EN,
            priority=Priority.EMERGENCY,
            say=(),
            pause_seconds=remaining,
            turn=state.turn,
        )
    return safe_hold(ivr, state)


async def queue_exit(ivr: Ivr, form: QueueExitForm, state: IvrState) -> Decision:
    """The call left Twilio's queue: hung up, moved on by us, or sent on by `<Leave>`."""
    if form.queue_result in LEFT_US:
        if form.queue_result == "hangup":
            await _finish(ivr, form)
        return Nothing()
    locale = state.locale or Locale.EN
    try:
        record = await ivr.calls.get(form.call_sid)
        if record is None or record.placement is None:
            return safe_route(ivr, state)
        if record.callback_requested:
            return await _start_callback(ivr, record)
        if record.placement.priority is Priority.EMERGENCY:
            await ivr.calls.dispatch(form.call_sid, ivr.clock.now())
            log.info("emergency sent to dispatch: handler limit reached", extra=_ids(form))
            return emergency_dial(ivr, record.locale)
        return await _requeue(ivr, record, say(PromptId.STILL_QUEUED))
    except RedisError:
        if state.priority is Priority.EMERGENCY:
            return emergency_dial(ivr, locale)
        return safe_route(ivr, state)


async def dispatch_result(ivr: Ivr, form: DialForm, state: IvrState) -> Decision:
    """The dispatch line answered (done), or did not: try again, then hold at the front. A
    diverted call whose number did not answer comes back to its place in the queue."""
    if form.dial_status in ("completed", "answered", "canceled"):
        return Nothing()
    if state.purpose == "overflow":
        record = await ivr.calls.get(form.call_sid)
        if record is None or record.placement is None:
            return safe_route(ivr, state)
        return await _requeue(ivr, record, say(PromptId.STILL_QUEUED), redial=True)
    attempt = state.attempt + 1
    log.warning("dispatch line %s (attempt %d)", form.dial_status, attempt, extra=_ids(form))
    try:
        record = await ivr.calls.get(form.call_sid)
    except RedisError:
        record = None
    locale = record.locale if record else state.locale or Locale.EN
    if attempt < MAX_DISPATCH_ATTEMPTS or record is None or record.placement is None:
        return emergency_dial(ivr, locale, attempt)
    try:
        return await _requeue(ivr, record, say(PromptId.EMERGENCY_CONNECTING), redial=True)
    except RedisError:
        return emergency_dial(ivr, locale, attempt)


async def status(ivr: Ivr, form: StatusForm, state: IvrState) -> Decision:
    """Status callbacks come repeated and out of order; only a final one changes anything, once."""
    if form.call_status in FINAL_STATUSES:
        await _finish(ivr, form)
    return Nothing()


async def _finish(ivr: Ivr, form: TwilioForm) -> None:
    outcome = await ivr.calls.finish(form.call_sid, ivr.clock.now())
    if outcome is not None:
        log.info("call ended: %s", outcome.value, extra=_ids(form))


async def _requeue(
    ivr: Ivr, record: CallRecord, spoken: tuple[Spoken, ...], redial: bool = False
) -> Decision:
    """Back into the queue at the call's original place."""
    assert record.placement is not None
    queued = await ivr.calls.enqueue(
        record.sid,
        record.caller,
        record.line,
        record.answers,
        record.placement,
        ivr.clock.now(),
        redial=redial,
    )
    if queued.free_handlers:
        await assign_waiting(ivr)
    return Enqueue(
        locale=record.locale,
        queue=record.placement.queue,
        priority=record.placement.priority,
        say=spoken,
    )


# Callbacks: offered in the hold loop, confirmed or keyed in after the caller leaves the queue.


async def _start_callback(ivr: Ivr, record: CallRecord) -> Decision:
    answers = record.answers.model_copy(update={"locale": record.locale})
    if record.caller:
        return menu.ask(
            Step.CALLBACK_CONFIRM,
            answers,
            record.locale,
            values={"last_digits": " ".join(record.caller[-3:])},
        )
    return menu.ask(Step.CALLBACK_NUMBER, answers, record.locale)


async def callback_offer(ivr: Ivr, form: GatherForm, state: IvrState, given: Given) -> Decision:
    """Pressed during the hold loop (so still in the queue's wait context)."""
    if menu.choice(Step.CALLBACK_OFFER, given) is None:
        return Nothing()  # the wait loop starts its next turn
    await ivr.callbacks.request(form.call_sid)
    return Leave()


async def callback_confirm(ivr: Ivr, form: GatherForm, state: IvrState, given: Given) -> Decision:
    record = await _callback_record(ivr, form)
    if record is None:
        return safe_route(ivr, state)
    value = menu.choice(Step.CALLBACK_CONFIRM, given)
    if value == "confirm" and record.caller:
        return await _book(ivr, record, record.caller)
    if value == "change":
        return menu.ask(Step.CALLBACK_NUMBER, state.answers, record.locale)
    return await _ask_again(ivr, record, Step.CALLBACK_CONFIRM, state, given)


async def callback_number(ivr: Ivr, form: GatherForm, state: IvrState, given: Given) -> Decision:
    record = await _callback_record(ivr, form)
    if record is None:
        return safe_route(ivr, state)
    number = uk_number(given.digits)
    if number is None:
        return await _ask_again(ivr, record, Step.CALLBACK_NUMBER, state, given)
    await ivr.callbacks.propose_number(record.sid, number)
    return menu.ask(
        Step.CALLBACK_READBACK,
        state.answers,
        record.locale,
        values={"digits": spoken_digits(number)},
    )


async def callback_readback(ivr: Ivr, form: GatherForm, state: IvrState, given: Given) -> Decision:
    record = await _callback_record(ivr, form)
    if record is None:
        return safe_route(ivr, state)
    value = menu.choice(Step.CALLBACK_READBACK, given)
    number = await ivr.callbacks.proposed_number(record.sid)
    if value == "confirm" and number:
        return await _book(ivr, record, number)
    if value == "change":
        return menu.ask(Step.CALLBACK_NUMBER, state.answers, record.locale, attempt=state.attempt)
    values = {"digits": spoken_digits(number)} if number else {}
    if state.attempt + 1 >= menu.MAX_ASKS or not number:
        return await _ask_again(ivr, record, Step.CALLBACK_READBACK, state, given)
    return menu.ask(
        Step.CALLBACK_READBACK,
        state.answers,
        record.locale,
        attempt=state.attempt + 1,
        before=menu.retry_prompt(given),
        values=values,
    )


async def _callback_record(ivr: Ivr, form: TwilioForm) -> CallRecord | None:
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return None
    return record


async def _ask_again(
    ivr: Ivr, record: CallRecord, current: Step, state: IvrState, given: Given
) -> Decision:
    """The same question once more, or, after three tries, back to the queue in the same place."""
    if state.attempt + 1 < menu.MAX_ASKS:
        values = {"last_digits": " ".join(record.caller[-3:])} if record.caller else {}
        return menu.ask(
            current,
            state.answers,
            record.locale,
            attempt=state.attempt + 1,
            before=menu.retry_prompt(given),
            values=values if current is Step.CALLBACK_CONFIRM else None,
        )
    await ivr.callbacks.withdraw(record.sid)
    return await _requeue(ivr, record, say(PromptId.STILL_QUEUED))


async def _book(ivr: Ivr, record: CallRecord, number: str) -> Decision:
    booked = await ivr.callbacks.convert(
        record.sid, case_id_for(record.sid), number, record.caller, ivr.clock.now()
    )
    if not booked:
        await ivr.callbacks.withdraw(record.sid)
        return await _requeue(ivr, record, say(PromptId.CALLBACK_FAILED))
    log.info("callback booked", extra={"call_sid": record.sid, "case_id": record.case_id})
    return Goodbye(locale=record.locale, say=say(PromptId.CALLBACK_BOOKED))


CALLBACK_STEPS: dict[Step, Callable[[Ivr, GatherForm, IvrState, Given], Awaitable[Decision]]] = {
    Step.CALLBACK_OFFER: callback_offer,
    Step.CALLBACK_CONFIRM: callback_confirm,
    Step.CALLBACK_NUMBER: callback_number,
    Step.CALLBACK_READBACK: callback_readback,
}


# Connecting a reserved caller to their handler (the connect job redirects the call here).


async def assign_waiting(ivr: Ivr) -> None:
    """Give free handlers the best waiting calls now; the periodic sweep catches up on failure."""
    try:
        offers = await ivr.assigner.assign(await ivr.rulebook.active(), ivr.clock.now())
        await ivr.jobs.connect_all(offers)
    except RedisError as error:
        log.warning("assignment postponed: %s", error)


async def connect(ivr: Ivr, form: TwilioForm, state: IvrState) -> Decision:
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return safe_route(ivr, state)
    live = (
        record.status is CallStatus.RESERVED
        and record.handler == state.handler
        and record.offers == state.offer
    )
    if not live:
        # A late or repeated redirect: the caller goes back to holding in their place.
        log.info("stale connect redirect", extra=_ids(form))
        return await _requeue(ivr, record, ())
    handler = await ivr.handlers.get(state.handler)
    return connecting.connect(record, handler, state.offer, await ivr.rulebook.active())


async def whisper(ivr: Ivr, form: TwilioForm, state: IvrState) -> Decision:
    """The handler answered (this request is on their leg): connect, unless the offer is over."""
    if not await ivr.offers.answered(state.call, state.handler, state.offer, ivr.clock.now()):
        return connecting.taken()
    record = await ivr.calls.get(state.call)
    if record is None:
        return connecting.taken()
    log.info("answered", extra={"call_sid": state.call, "handler": state.handler})
    return connecting.whisper(record)


async def connect_result(ivr: Ivr, form: DialForm, state: IvrState) -> Decision:
    """The handler's phone rang out, was busy, or the conversation is over."""
    if form.dial_status in ("completed", "answered"):
        await _finish(ivr, form)
        await assign_waiting(ivr)
        return Nothing()
    why = Release.FAILED if form.dial_status == "failed" else Release.MISSED
    rules = await ivr.rulebook.active()
    now = ivr.clock.now()
    await ivr.offers.release(form.call_sid, state.handler, state.offer, now, why, rules)
    log.info("offer %s: %s", form.dial_status, why.value, extra=_ids(form))
    record = await ivr.calls.get(form.call_sid)
    if record is None or record.placement is None:
        return safe_route(ivr, state)
    return await _requeue(ivr, record, say(PromptId.HANDLER_UNAVAILABLE))


# The Fallback URL: nothing but settings (no Redis), the emergency path first.


async def fallback(ivr: Ivr, form: FallbackForm, state: IvrState) -> Decision:
    if state.step == "dispatched":
        if form.dial_status in ("completed", "answered", "canceled"):
            return Nothing()
        return emergency_dial(ivr, Locale.EN, fallback=True)
    if state.step == Step.EMERGENCY.value:
        answer = menu.choice(Step.EMERGENCY, Given(digits=form.digits, speech=form.speech))
        if answer == Screen.YES:
            return emergency_dial(ivr, Locale.EN, fallback=True)
        screen = Screen.NO if answer == Screen.NO else Screen.UNANSWERED
        answers = Answers(locale=Locale.EN, screen=screen)
        return Continue(locale=Locale.EN, answers=answers, say=say(PromptId.HOLD_ON))
    log.error(
        "fallback after error %s at %s",
        form.error_code or "unknown",
        form.error_url or "unknown URL",
        extra={"call_sid": form.call_sid},
    )
    question = menu.ask(Step.EMERGENCY, Answers(locale=Locale.EN), Locale.EN)
    return question.model_copy(
        update={"fallback": True, "say": say(PromptId.TECHNICAL_DIFFICULTY) + question.say}
    )


def _ids(form: TwilioForm) -> dict[str, str]:
    return {"call_sid": form.call_sid}


# One place turns everything that can go wrong into a response.


def webhook(
    path: str,
    form_model: type[FormT],
    handler: Handler[FormT],
    safe: Callable[[Ivr, IvrState], Decision],
) -> Route:
    async def endpoint(request: Request) -> Response:
        ivr: Ivr = request.state.ivr
        latency = ivr.metrics.latency.labels(path)
        started = time.perf_counter()
        query = request.query_params
        try:
            params = await signed_params(request, ivr.validator, str(ivr.settings.public_base_url))
        except BodyTooLarge as error:
            ivr.metrics.rejected.labels("too_large").inc()
            return PlainTextResponse(f"Request refused: {error}.", status_code=413)
        except BadSignature as error:
            ivr.metrics.rejected.labels("signature").inc()
            log.warning("refused: %s", error)
            return PlainTextResponse(
                "Request refused: X-Twilio-Signature is missing or wrong.", status_code=403
            )
        state = (
            state_from_query(dict(query) | request.path_params)
            if query or request.path_params
            else NEW
        )
        call_sid = params.first("CallSid")
        try:
            form = parse_form(params, form_model)
            async with asyncio.timeout(WEBHOOK_BUDGET_SECONDS):
                decision = await handler(ivr, form, state)
            body = ivr.renderer.render(decision)
        except Exception:
            # Whatever failed, the caller is still routed: log it, answer with the safe route.
            log.exception(
                "webhook failed; answered with the safe route", extra={"call_sid": call_sid}
            )
            ivr.metrics.failures.labels(path).inc()
            body = ivr.renderer.render_safely(safe(ivr, state))
        latency.observe(time.perf_counter() - started)
        return Response(body, media_type="application/xml")

    return Route(path, endpoint, methods=["POST"])


def routes() -> list[Route]:
    return [
        webhook(urls.VOICE, TwilioForm, voice, safe_route),
        webhook(urls.CONTINUE, TwilioForm, resume, safe_route),
        webhook(urls.STEP, GatherForm, step, safe_route),
        webhook(urls.HOLD, HoldForm, hold, safe_hold),
        webhook(urls.QUEUE_EXIT, QueueExitForm, queue_exit, safe_route),
        webhook(urls.DISPATCH_RESULT, DialForm, dispatch_result, safe_dispatch),
        webhook(urls.CONNECT, TwilioForm, connect, safe_route),
        webhook(urls.WHISPER, TwilioForm, whisper, lambda ivr, state: connecting.taken()),
        webhook(urls.CONNECT_RESULT, DialForm, connect_result, safe_route),
        webhook(urls.STATUS, StatusForm, status, lambda ivr, state: Nothing()),
        webhook(urls.FALLBACK, FallbackForm, fallback, safe_route),
    ]
