"""Twilio webhooks: parse the form, let routing decide, render TwiML. Nothing here hangs up on a
caller: whatever fails, the answer is TwiML that still routes them, the emergency path first."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ivr import (
    after_call,
    callback_calls,
    calls,
    connect,
    dispatch,
    fallback,
    retry,
    transfers,
    urls,
)
from ivr.context import Ivr
from ivr.forms import (
    AnsweredForm,
    DialForm,
    DialledForm,
    FallbackForm,
    GatherForm,
    HoldForm,
    QueueExitForm,
    RecordingForm,
    RoomEventForm,
    StatusForm,
    TwilioForm,
)
from ivr.safety import (
    emergency_answered,
    emergency_on_the_way,
    safe_dispatch,
    safe_hold,
    safe_route,
    safe_step,
    screen_answered,
)
from ivr.signature import BadSignature, BodyTooLarge, Params, parse_form, signed_params
from ivr.states import (
    Asked,
    CallbackLeg,
    DialResult,
    DispatchWhisper,
    FeedbackAsked,
    InRoom,
    Offered,
    Progress,
    Recorded,
    SentOn,
    State,
    StateT,
    Whispered,
    reader,
)
from prompts.catalogue import PromptId
from routing import connecting
from routing.decisions import Decision, Goodbye, Nothing, Whisper, say
from routing.menu import Given

log = logging.getLogger(__name__)

FormT = TypeVar("FormT", bound=BaseModel)


Handler = Callable[[Ivr, FormT, StateT], Awaitable[Decision]]


WEBHOOK_BUDGET_SECONDS = 5.0  # far inside Twilio's 15 s, leaving time for the safe answer


Urgent = Callable[[Ivr, StateT, Given, str], Decision | None]
Safe = Callable[[Ivr, StateT], Decision] | Decision


def webhook(
    path: str,
    form_model: type[FormT],
    state_model: type[StateT],
    handler: Handler[FormT, StateT],
    safe: Safe[StateT],
    urgent: Urgent[StateT] | None = None,
) -> Route:
    """A Twilio webhook, its URL carrying a `state_model`. Whatever fails (or runs out of time),
    the answer is `safe` (made from the URL's state, or the same whatever it is); first, `urgent`
    may say the caller's own keys or words call for something else (an emergency)."""

    state_of = reader(state_model)

    async def endpoint(request: Request) -> Response:
        ivr: Ivr = request.state.ivr
        latency = ivr.metrics.latency.labels(path)
        started = time.perf_counter()
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
        step = request.path_params.get("step", "")
        state = state_of(request.scope.get("query_string", b""), step)
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
            body = ivr.renderer.render_safely(
                urgent_answer(ivr, state, params, urgent)
                or (safe(ivr, state) if callable(safe) else safe)
            )
        latency.observe(time.perf_counter() - started)
        return Response(body, media_type="application/xml")

    return Route(path, endpoint, methods=["POST"])


def safe_after_dial(ivr: Ivr, state: DialResult) -> Decision:
    """The dispatch line again for an emergency; for a caller diverted to another service's
    line, the safe route (never the ambulance service)."""
    return safe_route(ivr, state) if state.purpose == "overflow" else safe_dispatch(ivr, state)


def urgent_answer(
    ivr: Ivr, state: StateT, params: Params, urgent: Urgent[StateT] | None
) -> Decision | None:
    if urgent is None:
        return None
    try:
        given = Given(digits=params.first("Digits"), speech=params.first("SpeechResult"))
        return urgent(ivr, state, given, params.first("CallSid"))
    except Exception:
        log.exception("the caller's answer could not be read after a failure")
        return None


# The dispatcher must hear the caller whatever went wrong with the whisper.
CONNECT_ANYWAY = Whisper(say=(), accept=True)
# A handler's leg (or a callback's) we cannot handle: say so, and end that leg (the offer is
# swept later).
TAKEN = connecting.taken()


def feedback_over(ivr: Ivr, state: FeedbackAsked) -> Decision:
    """The feedback question's answer we cannot take: the call is over, it ends politely."""
    return Goodbye(locale=state.locale, say=say(PromptId.FEEDBACK_GOODBYE))


def routes() -> list[Route]:
    return [
        webhook(urls.VOICE, TwilioForm, Progress, calls.voice, safe_route),
        webhook(urls.CONTINUE, TwilioForm, Progress, calls.resume, safe_route),
        webhook(urls.STEP, GatherForm, Asked, calls.step, safe_step, screen_answered),
        webhook(urls.HOLD, HoldForm, Progress, calls.hold, safe_hold),
        webhook(
            urls.QUEUE_EXIT,
            QueueExitForm,
            Progress,
            calls.queue_exit,
            safe_route,
            emergency_on_the_way,
        ),
        webhook(urls.DISPATCH_RESULT, DialForm, DialResult, calls.dispatch_result, safe_after_dial),
        webhook(
            urls.DISPATCH_WHISPER, DialledForm, DispatchWhisper, dispatch.whisper, CONNECT_ANYWAY
        ),
        webhook(
            urls.CONNECT, TwilioForm, Offered, connect.connect, safe_route, emergency_on_the_way
        ),
        webhook(urls.WHISPER, TwilioForm, Whispered, connect.whisper, TAKEN),
        webhook(
            urls.CONNECT_RESULT,
            DialForm,
            Offered,
            connect.connect_result,
            safe_route,
            emergency_on_the_way,
        ),
        webhook(
            urls.TRANSFER_LEG, TwilioForm, SentOn, transfers.handler_leg, transfers.handler_sent_on
        ),
        webhook(urls.HANDLER_LEFT, DialForm, InRoom, transfers.handler_left, transfers.left),
        webhook(urls.ROOM_EVENTS, RoomEventForm, InRoom, transfers.room_event, Nothing()),
        webhook(urls.ROOM_EXIT, DialForm, InRoom, transfers.room_exit, transfers.room_exit_safely),
        webhook(urls.TO_QUEUE, TwilioForm, InRoom, transfers.to_queue, safe_route),
        webhook(
            urls.TO_DISPATCH, TwilioForm, InRoom, transfers.to_dispatch, transfers.dispatch_now
        ),
        webhook(urls.CLINICIAN_STATUS, StatusForm, InRoom, transfers.clinician_status, Nothing()),
        webhook(
            urls.DISPATCHER, TwilioForm, InRoom, transfers.dispatcher, transfers.dispatcher_safely
        ),
        webhook(urls.DISPATCHER_STATUS, StatusForm, InRoom, transfers.dispatcher_status, Nothing()),
        webhook(urls.STATUS, StatusForm, State, calls.status, Nothing()),
        webhook(urls.CALLBACK_ANSWER, AnsweredForm, CallbackLeg, callback_calls.answer, TAKEN),
        webhook(urls.CALLBACK_GREET, AnsweredForm, CallbackLeg, callback_calls.greet, TAKEN),
        webhook(urls.CALLBACK_WHISPER, AnsweredForm, CallbackLeg, callback_calls.whisper, TAKEN),
        webhook(urls.CALLBACK_RESULT, DialForm, CallbackLeg, callback_calls.result, Nothing()),
        webhook(urls.CALLBACK_STATUS, StatusForm, CallbackLeg, callback_calls.status, Nothing()),
        webhook(urls.RECORDING, RecordingForm, Recorded, after_call.recording, Nothing()),
        webhook(
            urls.FEEDBACK, GatherForm, FeedbackAsked, after_call.feedback_answer, feedback_over
        ),
        webhook(urls.FALLBACK, FallbackForm, Asked, fallback.fallback, safe_route),
        webhook(urls.RETRY, GatherForm, Progress, retry.retry, safe_route, emergency_answered),
        webhook(
            urls.FALLBACK_LINE_RESULT, DialForm, Progress, retry.fallback_line_result, safe_route
        ),
    ]
