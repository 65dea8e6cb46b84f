"""API: the floor — queues, statistics, handlers and their states, the audit log."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import BaseModel, Field

from config.number_policy import outside_policy
from console.bodies import Body
from console.endpoints import ApiRequest
from console.errors import Conflict, Forbidden, Invalid
from routing.audit import AuditEntry
from routing.figures import Report, Window, window_start
from routing.floor import assign_waiting
from routing.handlers import Device, Handler, HandlerProfile, HandlerState, time_in_states
from routing.handlers import StateChange as HandlerStateChange
from routing.stats import Waiting, waiting_now


class StateChange(Body):
    state: HandlerState
    reason: Annotated[str, Field(max_length=80)] = ""


class Heartbeat(BaseModel):
    handler: str
    at: float


class QueueSnapshot(BaseModel):
    """`handlers`: those who can take this queue's calls (its skills, at its proficiency), by
    state."""

    queue: str
    waiting: int
    longest_wait: float
    by_priority: list[Waiting]
    handlers: dict[str, int]


class FloorSnapshot(BaseModel):
    queues: list[QueueSnapshot]
    handlers: dict[str, int]


class StatsReport(Report):
    """Statistics over a window: `figures` per queue and the priority class calls entered it at,
    `total` for all of them, `terminated` for the line. Each figure is defined in README.md,
    "Statistics"; the window is exact, from `since` to `until` (now), both included."""


async def floor(api: ApiRequest) -> FloorSnapshot:
    rules = await api.floor.rulebook.active()
    live = await waiting_now(api.floor.redis, sorted(rules.queues), api.floor.clock.now())
    everyone = await api.floor.handlers.all()
    queues = []
    for name, queue in sorted(rules.queues.items()):
        rows = [row for row in live if row.queue == name]
        able = Counter(h.state.value for h in everyone if queue.answerable_by(h.profile.skills))
        queues.append(
            QueueSnapshot(
                queue=name,
                waiting=sum(row.waiting for row in rows),
                longest_wait=max((row.longest_wait for row in rows), default=0.0),
                by_priority=rows,
                handlers={state.value: able[state.value] for state in HandlerState},
            )
        )
    counts = await api.floor.handlers.counts()
    return FloorSnapshot(queues=queues, handlers={state.value: n for state, n in counts.items()})


async def statistics(api: ApiRequest) -> StatsReport:
    window = window_of(api, Window.LAST_15_MINUTES)
    report = await api.console.stats.report(window, api.floor.clock.now())
    return StatsReport.model_validate(report, from_attributes=True)


def own(api: ApiRequest) -> str:
    handler_id = str(api.path["handler_id"])
    if not api.principal.may_act_for(handler_id):
        raise Forbidden("a handler may act only for themselves")
    return handler_id


NEEDS_SCOPE = (
    "giving a handler a phone number, or changing a handler's device to or from one, needs a "
    "token made with the rules scope (lifeline token create --account U --scope rules), as "
    "activating a rule set does"
)


async def create_handler(api: ApiRequest) -> Handler:
    floor = api.floor
    profile: HandlerProfile = api.body
    check_device(api, profile)
    check_authority(api, None, profile.device)
    await check_skills(api, profile)
    now = floor.clock.now()
    if not await floor.handlers.create(profile, now):
        raise Conflict(f"handler {profile.id!r} exists already")
    await floor.audit.record(
        api.principal.name,
        "handler.create",
        profile.id,
        now,
        device=profile.device.model_dump(),  # whole: a member of staff's phone, not a patient's
        token=api.principal.token_id,
    )
    return await floor.handlers.get(profile.id)


async def update_handler(api: ApiRequest) -> Handler:
    floor = api.floor
    profile: HandlerProfile = api.body
    if profile.id != api.path["handler_id"]:
        raise Invalid("the id in the body differs from the one in the path")
    check_device(api, profile)
    before = (await floor.handlers.get(profile.id)).profile.device
    check_authority(api, before, profile.device)
    await check_skills(api, profile)
    await floor.handlers.update_profile(profile)
    detail: dict[str, object] = {"token": api.principal.token_id}
    if profile.device != before:  # where this handler's calls ring: kept, before and after
        detail["device"] = {"before": before.model_dump(), "after": profile.device.model_dump()}
    await floor.audit.record(
        api.principal.name, "handler.update", profile.id, floor.clock.now(), **detail
    )
    return await floor.handlers.get(profile.id)


def check_authority(api: ApiRequest, before: Device | None, after: Device) -> None:
    """A phone number given to a handler, changed or taken away moves patients' calls as a rule
    set does (an attacker's own mobile passes the number policy): it needs the same authority."""
    moved = after != before and "number" in {after.kind, before.kind if before else ""}
    if moved and not api.principal.may_decide_where_calls_ring:
        raise Forbidden(NEEDS_SCOPE)


def check_device(api: ApiRequest, profile: HandlerProfile) -> None:
    """A handler's phone number is one Lifeline dials: under the number policy."""
    if profile.device.kind != "number":
        return
    exceptions = api.floor.settings.policy_exceptions
    refused = outside_policy(profile.device.address, exceptions)
    if refused:
        raise Invalid("the device is outside the number policy", [f"device.address: {refused}"])


async def check_skills(api: ApiRequest, profile: HandlerProfile) -> None:
    known = set((await api.floor.rulebook.active()).skills)
    unknown = sorted(set(profile.skills) - known)
    if unknown:
        raise Invalid(
            "unknown skills", [f"skills.{skill}: not a skill of the rule set" for skill in unknown]
        )


async def list_handlers(api: ApiRequest) -> list[Handler]:
    return await api.floor.handlers.all()


async def get_handler(api: ApiRequest) -> Handler:
    return await api.floor.handlers.get(own(api))


class HandlerHistory(BaseModel):
    """A handler's state changes over a window (15m, 1h, today), oldest first, and the seconds
    they spent in each state."""

    handler: str
    window: Window
    since: float
    changes: list[HandlerStateChange]
    seconds_in_state: dict[HandlerState, float]


async def handler_history(api: ApiRequest) -> HandlerHistory:
    handler_id = own(api)
    floor = api.floor
    window = window_of(api)
    now = floor.clock.now()
    since = window_start(window, now)
    current = await floor.handlers.get(handler_id)
    changes = await floor.handlers.history(handler_id, since)
    return HandlerHistory(
        handler=handler_id,
        window=window,
        since=since,
        changes=changes,
        seconds_in_state=time_in_states(changes, current, since, now),
    )


def window_of(api: ApiRequest, default: Window = Window.TODAY) -> Window:
    try:
        return Window(api.query.get("window", default.value))
    except ValueError:
        raise Invalid("window must be one of 15m, 1h, today") from None


async def change_state(api: ApiRequest) -> Handler:
    floor = api.floor
    handler_id = own(api)
    body: StateChange = api.body
    now = floor.clock.now()
    await floor.handlers.choose(handler_id, body.state, now, body.reason)
    if api.principal.handler != handler_id:  # a supervisor acting for a handler
        await floor.audit.record(
            api.principal.name, "handler.state", handler_id, now, state=body.state.value
        )
    if body.state is HandlerState.AVAILABLE:
        await assign_waiting(floor)
    return await floor.handlers.get(handler_id)


async def heartbeat(api: ApiRequest) -> Heartbeat:
    handler_id = own(api)
    now = api.floor.clock.now()
    await api.floor.handlers.heartbeat(handler_id, now)
    return Heartbeat(handler=handler_id, at=now)


async def audit_log(api: ApiRequest) -> list[AuditEntry]:
    try:
        count = max(1, min(1000, int(api.query.get("count", "100"))))
    except ValueError:
        raise Invalid("count must be a number") from None
    return await api.floor.audit.latest(count, api.query.get("action"))
