"""Mode control: force degraded or normal, or hand back to the health checks, with a reason;
the outage message in English and Welsh; the history of the mode and of clinical health."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints
from starlette.responses import Response

from console.web.forms import FormErrors, parse
from console.web.pages import Page, View
from routing.mode import MESSAGE_MAX, Mode, OutageMessage

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Message = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX)
]
CHOICES = {
    "degraded": "Force degraded: treat the clinical system as down",
    "normal": "Force normal: treat the clinical system as up",
    "auto": "Automatic: follow the clinical health checks",
}


class ModeChange(BaseModel):
    mode: Literal["normal", "degraded", "auto"]
    reason: Reason


class MessageChange(BaseModel):
    en: Message
    cy: Message


async def show(
    page: Page,
    errors: FormErrors | None = None,
    message_errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    modes = page.floor.modes
    return await page.render(
        "mode.html",
        status,
        title="Mode",
        state=await modes.read(),
        choices=CHOICES,
        message=await modes.message(),
        history=await modes.history(30),
        health=await page.console.breaker.history(30),
        errors=errors or {},
        message_errors=message_errors or {},
        form=page.form,
    )


async def mode_page(page: Page) -> Response:
    return await show(page)


async def force(page: Page) -> Response:
    change, errors = parse(ModeChange, page.form)
    if change is None:
        return await show(page, errors, status=422)
    console = page.console
    wanted = None if change.mode == "auto" else Mode(change.mode)
    effective, changed = await console.floor.modes.force(
        wanted, change.reason, page.user.username, page.now
    )
    if changed and effective is Mode.NORMAL:
        await console.jobs.off_loop(console.jobs.reconcile)  # the journal, to the clinical system
    said = "automatic" if wanted is None else f"forced {wanted.value}"
    return await page.done(f"The mode is {said}; it is now {effective.value}.", "/console/mode")


async def set_message(page: Page) -> Response:
    change, errors = parse(MessageChange, page.form)
    if change is None:
        return await show(page, message_errors=errors, status=422)
    message = OutageMessage(en=change.en, cy=change.cy)
    await page.floor.modes.set_message(message, page.user.username, page.now)
    return await page.done("The outage message is saved in both languages.", "/console/mode")


VIEWS = [
    View("/console/mode", mode_page),
    View("/console/mode", force, method="POST"),
    View("/console/mode/message", set_message, method="POST"),
]
