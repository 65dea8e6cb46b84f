"""Callbacks: the list with filters, one callback with its history, cancel and re-prioritise;
a clinician's callback with its urgency and the time left to its due-by."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from starlette.responses import Response

from console.web.forms import FormErrors, parse, present
from console.web.pages import Page, Problem, View
from console.web.urgency import label
from routing import callback_priority
from routing.callbacks import INDEXED, LISTED, LIVE, Callback, CallbackStatus, UnknownCallback
from routing.models import Priority

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Filter(BaseModel):
    status: CallbackStatus | None = None
    priority: Annotated[int, Field(ge=1, le=5)] | None = None
    overdue: bool = False


class Cancel(BaseModel):
    reason: Reason


def time_left(callbacks: list[Callback], now: float) -> dict[str, float]:
    """Each live clinician's callback's seconds to its due-by (below 0: how late it is)."""
    return {
        callback.id: callback.due_by - now
        for callback in callbacks
        if callback.urgency and callback.due_by is not None and callback.status in LIVE
    }


class Reprioritise(BaseModel):
    priority: Annotated[int, Field(ge=2, le=5)]  # never 1: that is for callers on the line
    reason: Reason


async def listing(page: Page) -> Response:
    wanted, errors = parse(Filter, present(page.query))
    wanted = wanted or Filter()
    rows = [
        callback
        for callback in await page.floor.callbacks.with_status(wanted.status)
        if (wanted.priority is None or int(callback.priority) == wanted.priority)
        and (not wanted.overdue or callback.overdue(page.now))
    ]
    onward = (await page.floor.rulebook.active()).onward
    return await page.render(
        "callbacks.html",
        422 if errors else 200,
        title="Callbacks",
        rows=rows,
        urgencies={row.urgency: label(onward, row.urgency) for row in rows if row.urgency},
        left=time_left(rows, page.now),
        wanted=wanted,
        every_one=wanted.status in INDEXED,  # else only the latest are read
        shown=LISTED,
        statuses=list(CallbackStatus),
        errors=errors,
    )


async def current(page: Page, callback_id: str) -> Callback:
    try:
        return await page.floor.callbacks.get(callback_id)
    except UnknownCallback:
        raise Problem(404, f"There is no callback {callback_id}.") from None


async def show(page: Page, errors: FormErrors | None = None, status: int = 200) -> Response:
    callback_id = str(page.request.path_params["callback_id"])
    callback = await current(page, callback_id)
    onward = (await page.floor.rulebook.active()).onward
    return await page.render(
        "callback.html",
        status,
        title=f"Callback {callback_id}",
        callback=callback,
        urgency=label(onward, callback.urgency) if callback.urgency else "",
        left=time_left([callback], page.now),
        history=await page.floor.callbacks.history(callback_id),
        priorities=[p for p in Priority if p is not Priority.EMERGENCY],
        errors=errors or {},
        form=page.form,
    )


async def detail(page: Page) -> Response:
    return await show(page)


async def cancel(page: Page) -> Response:
    callback_id = str(page.request.path_params["callback_id"])
    form, errors = parse(Cancel, page.form)
    if form is None:
        return await show(page, {f"cancel-{k}": v for k, v in errors.items()}, 422)
    await current(page, callback_id)  # 404 for an unknown one
    outcome = await page.floor.callbacks.cancel(
        callback_id, page.user.username, form.reason, page.now
    )
    if outcome != "cancelled":
        return await show(page, {"": f"The callback cannot be cancelled: it is {outcome}."}, 409)
    await page.audit("callback.cancel", callback_id, reason=form.reason)
    return await page.done(
        f"Callback {callback_id} is cancelled.", f"/console/callbacks/{callback_id}"
    )


async def reprioritise(page: Page) -> Response:
    callback_id = str(page.request.path_params["callback_id"])
    form, errors = parse(Reprioritise, page.form)
    if form is None:
        return await show(page, errors, 422)
    floor = page.floor
    before = await current(page, callback_id)  # 404 for an unknown one
    done = await callback_priority.reprioritise(
        floor.callbacks,
        floor.rulebook,
        floor.assigner,
        floor.audit,
        callback_id,
        priority=Priority(form.priority),
        actor=page.user.username,
        reason=form.reason,
        now=page.now,
    )
    if done.outcome == "unknown":
        raise Problem(404, f"There is no callback {callback_id}.")
    if done.outcome == "superseded":
        problem = (
            f"The caller has a newer callback, {done.other}, still to be made: change that one."
        )
        return await show(page, {"": problem}, 409)
    if done.outcome == "number taken":
        problem = (
            f"Another caller's callback to the same number, {done.other}, is still to be made: "
            "this one can go back in the queue once that one is over."
        )
        return await show(page, {"": problem}, 409)
    if not done.changed:
        problem = f"The callback is {done.outcome} and cannot be changed now."
        return await show(page, {"": problem}, 409)
    await floor.outbound.connect_all(done.offers)
    back = "is back in the queue," if before.status is CallbackStatus.UNREACHABLE else "is now"
    return await page.done(
        f"Callback {callback_id} {back} priority {form.priority}.",
        f"/console/callbacks/{callback_id}",
    )


VIEWS = [
    View("/console/callbacks", listing),
    View("/console/callbacks/{callback_id}", detail),
    View("/console/callbacks/{callback_id}/cancel", cancel, method="POST"),
    View("/console/callbacks/{callback_id}/priority", reprioritise, method="POST"),
]
