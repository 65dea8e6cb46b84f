"""API: callbacks — list and filter, cancel, re-prioritise, statistics."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from console.bodies import Body
from console.endpoints import ApiRequest
from console.errors import Conflict, Invalid, NotFound
from routing import callback_priority
from routing.callbacks import (
    Callback,
    Callbacks,
    CallbackStatus,
    HistoryEntry,
    UnknownCallback,
)
from routing.figures import CallbackFigures, Window, window_start
from routing.models import Priority, mask


class CallbackView(BaseModel):
    callback: Callback
    overdue: bool
    history: list[HistoryEntry] = []


class CallbackChange(Body):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CallbackPriority(Body):
    """A new priority class for a pending, scheduled or unreachable callback; it keeps its
    original arrival time within the new class. An unreachable callback goes back in the queue,
    pending, with a fresh set of attempts by the rule set's retry policy (a clinician deciding to
    try again), unless the caller has booked another since: that is refused (409)."""

    priority: Annotated[int, Field(ge=2, le=5)]  # never 1: that is for callers on the line
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CallbackReport(BaseModel):
    """Callback events per priority class over a window, from `since` to now (both included);
    README.md, "Statistics", defines them."""

    window: Window
    since: Annotated[float, Field(description="Start of the window, seconds since the epoch")]
    figures: list[CallbackFigures]


def view(callback: Callback, now: float, history: list[HistoryEntry] | None = None) -> CallbackView:
    return CallbackView(callback=callback, overdue=callback.overdue(now), history=history or [])


async def list_callbacks(api: ApiRequest) -> list[CallbackView]:
    floor = api.floor
    now = floor.clock.now()
    wanted_status = api.query.get("status")
    wanted_priority = api.query.get("priority")
    overdue_only = api.query.get("overdue") in ("1", "true", "yes")
    if wanted_status is not None and wanted_status not in set(CallbackStatus):
        raise Invalid(f"status must be one of {', '.join(CallbackStatus)}")
    status = CallbackStatus(wanted_status) if wanted_status is not None else None
    rows = []
    for callback in await floor.callbacks.with_status(status):
        if wanted_priority is not None and str(int(callback.priority)) != wanted_priority:
            continue
        if overdue_only and not callback.overdue(now):
            continue
        rows.append(view(callback.model_copy(update={"number": mask(callback.number)}), now))
    return rows


async def get_callback(api: ApiRequest) -> CallbackView:
    floor = api.floor
    callback_id = str(api.path["callback_id"])
    callback = await callbacks_get(floor.callbacks, callback_id)
    now = floor.clock.now()
    # The caller's whole number is read here only: who read it, and when, is kept.
    await floor.audit.record(api.principal.name, "callback.read", callback_id, now)
    return view(callback, now, await floor.callbacks.history(callback_id))


async def callbacks_get(callbacks: Callbacks, callback_id: str) -> Callback:
    try:
        return await callbacks.get(callback_id)
    except UnknownCallback as error:
        raise NotFound(str(error)) from None


async def cancel_callback(api: ApiRequest) -> CallbackView:
    floor = api.floor
    body: CallbackChange = api.body
    callback_id = str(api.path["callback_id"])
    now = floor.clock.now()
    outcome = await floor.callbacks.cancel(callback_id, api.principal.name, body.reason, now)
    if outcome == "unknown":
        raise NotFound(f"no callback {callback_id!r}")
    if outcome != "cancelled":
        raise Conflict(f"the callback cannot be cancelled: it is {outcome}")
    await floor.audit.record(
        api.principal.name, "callback.cancel", callback_id, now, reason=body.reason
    )
    return view(
        await callbacks_get(floor.callbacks, callback_id),
        now,
        await floor.callbacks.history(callback_id),
    )


async def reprioritise_callback(api: ApiRequest) -> CallbackView:
    floor = api.floor
    body: CallbackPriority = api.body
    callback_id = str(api.path["callback_id"])
    now = floor.clock.now()
    done = await callback_priority.reprioritise(
        floor.callbacks,
        floor.rulebook,
        floor.assigner,
        floor.audit,
        callback_id,
        priority=Priority(body.priority),
        actor=api.principal.name,
        reason=body.reason,
        now=now,
    )
    if done.outcome == "unknown":
        raise NotFound(f"no callback {callback_id!r}")
    if done.outcome == "superseded":
        raise Conflict(
            f"the caller has a newer callback, {done.other}, still to be made: change that one"
        )
    if done.outcome == "number taken":
        raise Conflict(
            f"another caller's callback to the same number, {done.other}, is still to be made: "
            "this one can go back in the queue once that one is over"
        )
    if not done.changed:
        raise Conflict(f"the callback is {done.outcome} and cannot be changed now")
    await floor.outbound.connect_all(done.offers)
    return view(
        await callbacks_get(floor.callbacks, callback_id),
        now,
        await floor.callbacks.history(callback_id),
    )


async def callback_statistics(api: ApiRequest) -> CallbackReport:
    try:
        window = Window(api.query.get("window", Window.TODAY.value))
    except ValueError:
        raise Invalid("window must be one of 15m, 1h, today") from None
    now = api.floor.clock.now()
    return CallbackReport(
        window=window,
        since=window_start(window, now),
        figures=await api.console.stats.callbacks(window, now),
    )
