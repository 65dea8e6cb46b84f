"""The handler's console: their state (available, on a break with a reason, offline), the call
routed to them with its details, an appointment booked for it, the caller sent on or a
clinician's callback arranged, wrap-up, their own patients' feedback today, a heartbeat, and
live updates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator
from starlette.responses import RedirectResponse, Response

from console.booking import choose, find
from console.errors import Conflict
from console.web.auth import EVERYONE
from console.web.booking import ChosenSlot, booking_context
from console.web.casefile import case_for
from console.web.feedback import own_today
from console.web.forms import FormErrors, parse, present
from console.web.onward import (
    CLINICIAN,
    SEND_ON,
    ClinicianCallbackForm,
    SendOnForm,
    arranged,
    onward_context,
    sent,
    under,
)
from console.web.pages import Page, Problem, View
from console.web.sse import Feed
from console.wrapup import wrap_up
from routing.floor import assign_waiting
from routing.handlers import CHOOSABLE, HandlerState, UnknownHandler
from routing.onward import SendOnRefused, arrange_clinician_callback, send_on
from routing.wrapup import WrapUpOutcome

PHONE_SIGN_IN = "/console/handler/phone-token"  # served by console/web/phone.py
BOOKING = "/console/handler#booking"
HEARTBEAT_SECONDS = 10  # well inside the rule set's heartbeat timeout (30 s by default)
# The day's answers change only as calls end, and reading them reads the whole day's counts:
# every handler's open console asks less often than for its call.
FEEDBACK_SECONDS = 15.0


class BreakReason(StrEnum):
    COMFORT = "comfort break"
    MEAL = "meal break"
    TRAINING = "training"
    MEETING = "team meeting"
    WELLBEING = "wellbeing break"
    COLLEAGUE = "supporting a colleague"


class StateChange(BaseModel):
    state: Literal["available", "break", "offline"]
    reason: BreakReason | None = None

    @model_validator(mode="after")
    def _breaks_have_a_reason(self) -> StateChange:
        if self.state == "break" and self.reason is None:
            raise ValueError("choose a reason for the break")
        return self


class WrapUpForm(BaseModel):
    outcome: WrapUpOutcome
    notes: Annotated[str, Field(max_length=4000)] = ""


OUTCOMES = {
    WrapUpOutcome.AMBULANCE: "Ambulance requested",
    WrapUpOutcome.REFERRED: "Referred",
    WrapUpOutcome.ADVICE: "Advice given",
    WrapUpOutcome.CALLBACK: "Callback arranged",
    WrapUpOutcome.BOOKED: "Appointment booked",
}
STATES = {
    HandlerState.OFFLINE: "Offline",
    HandlerState.AVAILABLE: "Available",
    HandlerState.RESERVED: "A call is coming through",
    HandlerState.BUSY: "On a call",
    HandlerState.WRAP_UP: "Wrapping up",
    HandlerState.BREAK: "On a break",
}


def handler_id(page: Page) -> str:
    return page.user.handler


async def handler_context(
    page: Page, errors: FormErrors | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    try:
        handler = await page.floor.handlers.get(handler_id(page))
    except UnknownHandler:
        raise Problem(
            404,
            f"Your account takes calls as handler {handler_id(page)!r}, who is not set up yet. "
            "Ask a supervisor to add them.",
        ) from None
    mode = await page.floor.modes.current()
    rules = await page.floor.rulebook.active()
    case = await case_for(page.floor, handler)
    booking = await booking_context(page, handler, case)
    onward = await onward_context(page.floor.callbacks, rules.onward, handler, case)
    return {
        "handler": handler,
        "state_label": STATES[handler.state],
        "choices": CHOOSABLE[handler.state],
        "break_reasons": list(BreakReason),
        "case": case,
        # While degraded nothing is booked, but a booking made before it can still be recorded.
        "outcomes": {
            outcome: label
            for outcome, label in OUTCOMES.items()
            if not (mode.degraded and outcome is WrapUpOutcome.BOOKED and not booking["booked"])
        },
        **booking,
        **onward,
        "degraded": mode.degraded,
        "wrap_up_ends": handler.since + rules.offers.wrap_up_seconds,
        "csrf": page.session.csrf,
        "errors": errors or {},
        "form": form or {},
    }


async def live(page: Page) -> dict[str, str]:
    context = await handler_context(page)
    return {
        "handler-status": page.fragment("_handler_status.html", **context),
        "handler-call": page.fragment("_handler_call.html", **context),
    }


async def show(
    page: Page,
    errors: FormErrors | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """The console; after a form that failed, its problems and what was entered (`form`, or the
    page's form)."""
    context = await handler_context(page, errors, page.form if form is None else form)
    await page.floor.handlers.heartbeat(handler_id(page), page.now)
    settings = page.floor.settings
    softphone = settings.softphone and context["handler"].profile.device.kind == "client"
    return await page.render(
        "handler.html",
        status,
        title="My calls",
        stream="/console/handler/events",
        heartbeat=f"/console/handler/heartbeat|{HEARTBEAT_SECONDS}",
        phone_sdk=settings.twilio_voice_sdk_url if softphone else "",
        phone_sign_in=PHONE_SIGN_IN if softphone else "",
        feedback=await own_today(page, handler_id(page)),
        **context,
    )


async def console_page(page: Page) -> Response:
    return await show(page)


async def change_state(page: Page) -> Response:
    change, errors = parse(StateChange, present(page.form))
    if change is None:
        return await show(page, errors, 422)
    state = HandlerState(change.state)
    reason = change.reason.value if change.reason else ""
    was = await page.floor.handlers.choose(handler_id(page), state, page.now, reason)
    await page.floor.handlers.heartbeat(handler_id(page), page.now)
    if state is HandlerState.AVAILABLE:
        await assign_waiting(page.floor)
    said = {"available": "You are available for calls.", "offline": "You are offline."}
    message = said.get(change.state, f"You are on a break ({reason}).")
    if was is HandlerState.BUSY:
        going = "offline" if state is HandlerState.OFFLINE else f"on a break ({reason})"
        message = f"You will be {going} once this call and its wrap-up are over."
    return await page.done(message, "/console/handler")


async def finish_wrap_up(page: Page) -> Response:
    done, errors = parse(WrapUpForm, present(page.form))
    if done is None:
        return await show(page, errors, 422)
    try:
        now = await wrap_up(
            page.console, handler_id(page), done.outcome, done.notes, available=True
        )
    except Conflict as error:
        return await show(page, {"": error.message}, 409)
    where = {
        HandlerState.AVAILABLE: "You are available for calls.",
        HandlerState.OFFLINE: "You are offline, as you asked.",
        HandlerState.BREAK: "You are on a break, as you asked.",
    }
    return await page.done(
        f"Wrap-up recorded ({OUTCOMES[done.outcome].lower()}). {where.get(now, '')}".strip(),
        "/console/handler",
    )


async def find_slots(page: Page) -> Response:
    try:
        await find(page.console, handler_id(page))
    except Conflict as error:
        return await show(page, {"": error.message}, 409)
    return RedirectResponse(BOOKING, status_code=303)


async def book_slot(page: Page) -> Response:
    """The outcome (booked, taken meanwhile, no answer) is on the booking part of the call."""
    chosen, _ = parse(ChosenSlot, present(page.form))
    if chosen is None:
        return await show(page, {"slot": "choose one of the free appointments"}, 422)
    try:
        await choose(page.console, handler_id(page), chosen.slot)
    except Conflict as error:
        return await show(page, {"": error.message}, 409)
    return RedirectResponse(BOOKING, status_code=303)


async def send_caller_on(page: Page) -> Response:
    asked, errors = parse(SendOnForm, present(page.form))
    entered = under(SEND_ON, page.form)
    if asked is None:
        return await show(page, under(SEND_ON, errors), 422, entered)
    try:
        transfer = await send_on(page.floor, handler_id(page), asked.transfer())
    except SendOnRefused as refused:
        return await show(page, {SEND_ON: str(refused)}, 409, entered)
    rules = await page.floor.rulebook.active()
    return await page.done(sent(rules.onward, transfer), "/console/handler")


async def clinician_callback(page: Page) -> Response:
    asked, errors = parse(ClinicianCallbackForm, present(page.form))
    entered = under(CLINICIAN, page.form)
    if asked is None:
        return await show(page, under(CLINICIAN, errors), 422, entered)
    try:
        made = await arrange_clinician_callback(
            page.floor, handler_id(page), asked.urgency, asked.notes, asked.number
        )
    except SendOnRefused as refused:
        return await show(page, {CLINICIAN: str(refused)}, 409, entered)
    rules = await page.floor.rulebook.active()
    return await page.done(arranged(rules.onward, made), "/console/handler")


async def heartbeat(page: Page) -> Response:
    await page.floor.handlers.heartbeat(handler_id(page), page.now)
    return Response(status_code=204)


async def own_feedback(page: Page) -> dict[str, str]:
    feedback = await own_today(page, handler_id(page))
    return {"handler-feedback": page.fragment("_handler_feedback.html", feedback=feedback)}


async def events(page: Page) -> Response:
    async def regions_now() -> dict[str, str]:
        return await live(page)

    async def feedback_now() -> dict[str, str]:
        return await own_feedback(page)

    return page.live(
        [Feed(regions_now), Feed(page.mode_region), Feed(feedback_now, every=FEEDBACK_SECONDS)]
    )


VIEWS = [
    View("/console/handler", console_page, EVERYONE, for_handlers=True),
    View("/console/handler/state", change_state, EVERYONE, "POST", for_handlers=True),
    View("/console/handler/wrap-up", finish_wrap_up, EVERYONE, "POST", for_handlers=True),
    View("/console/handler/booking/search", find_slots, EVERYONE, "POST", for_handlers=True),
    View("/console/handler/booking", book_slot, EVERYONE, "POST", for_handlers=True),
    View("/console/handler/send-on", send_caller_on, EVERYONE, "POST", for_handlers=True),
    View(
        "/console/handler/clinician-callback",
        clinician_callback,
        EVERYONE,
        "POST",
        for_handlers=True,
    ),
    View("/console/handler/heartbeat", heartbeat, EVERYONE, "POST", for_handlers=True),
    View("/console/handler/events", events, EVERYONE, for_handlers=True),
]
