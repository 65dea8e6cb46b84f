"""The JSON API under /api/v1: rules, queues, handlers, statistics, audit."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console import openapi
from console.context import Console
from console.endpoints import EVERYONE, SUPERVISORS, Call, Endpoint, route
from console.errors import Conflict, Forbidden, Invalid, NotFound
from prompts.catalogue import Locale
from routing.audit import AuditEntry
from routing.callbacks import Callback, CallbackStatus, HistoryEntry, UnknownCallback
from routing.handlers import Handler, HandlerProfile, HandlerState
from routing.models import CallFacts, Priority, Reason, Screen, Worse
from routing.reevaluate import reevaluate
from routing.rulebook import Version, VersionInfo, canonical
from routing.rules import parse_rules
from routing.stats import CallbackFigures, Figures, Waiting, Window, waiting_now


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewVersion(Body):
    """A rule set: as YAML or JSON text in `document`, or as a JSON object in `rules`."""

    document: str | None = None
    rules: dict[str, Any] | None = None
    comment: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _one_of(self) -> NewVersion:
        if (self.document is None) == (self.rules is None):
            raise ValueError("give exactly one of `document` and `rules`")
        return self


class Activation(Body):
    reason: Annotated[str, Field(max_length=500)] = ""


class ActivationResult(BaseModel):
    version: int
    diff: str
    reevaluated: int


class DryRun(Body):
    """The facts of a call, and optionally which version to try them on (default: active)."""

    locale: Locale = Locale.EN
    screen: Screen = Screen.NO
    reason: Reason = Reason.UNKNOWN
    worse: Worse | None = None
    repeat: bool = False
    line: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] = "+441134960000"
    version: int | None = None


class DryRunResult(BaseModel):
    version: int | None
    route: str
    queue: str
    priority: int
    skills: list[str]


class StateChange(Body):
    state: HandlerState
    reason: Annotated[str, Field(max_length=80)] = ""


class Heartbeat(BaseModel):
    handler: str
    at: float


class QueueSnapshot(BaseModel):
    queue: str
    waiting: int
    longest_wait: float
    by_priority: list[Waiting]


class FloorSnapshot(BaseModel):
    queues: list[QueueSnapshot]
    handlers: dict[str, int]


class StatsReport(BaseModel):
    window: Window
    figures: list[Figures]


# Rules


async def active_rules(call: Call) -> Version:
    number = await call.console.rulebook.active_number()
    if number is None:
        raise NotFound("no rule set has been activated")
    return await call.console.rulebook.get(number)


async def list_versions(call: Call) -> list[VersionInfo]:
    return await call.console.rulebook.versions()


async def get_version(call: Call) -> Version:
    return await call.console.rulebook.get(int(call.path["number"]))


async def create_version(call: Call) -> VersionInfo:
    body: NewVersion = call.body
    document = (
        body.document if body.document is not None else canonical(parse_rules(body.rules or {}))
    )
    return await call.console.rulebook.create(
        document, call.principal.name, call.console.clock.now(), body.comment
    )


async def activate_version(call: Call) -> ActivationResult:
    console = call.console
    body: Activation = call.body
    number = int(call.path["number"])
    now = console.clock.now()
    change = await console.rulebook.activate(number, call.principal.name, now, body.reason)
    rules = (await console.rulebook.get(number)).rules
    moved = await reevaluate(console.redis, console.calls, rules, now)
    await console.assign()
    return ActivationResult(version=number, diff=change, reevaluated=moved)


async def dry_run(call: Call) -> DryRunResult:
    body: DryRun = call.body
    rulebook = call.console.rulebook
    if body.version is None:
        rules = await rulebook.active()
        version = await rulebook.active_number()
    else:
        rules = (await rulebook.get(body.version)).rules
        version = body.version
    facts = CallFacts(
        locale=body.locale,
        screen=body.screen,
        reason=body.reason,
        worse=body.worse,
        repeat=body.repeat,
        line=body.line,
    )
    placement = rules.place(facts)
    return DryRunResult(
        version=version,
        route=placement.route,
        queue=placement.queue,
        priority=int(placement.priority),
        skills=list(placement.skills),
    )


# Queues and statistics


async def floor(call: Call) -> FloorSnapshot:
    console = call.console
    rules = await console.rulebook.active()
    live = await waiting_now(console.redis, sorted(rules.queues), console.clock.now())
    queues = []
    for name in sorted(rules.queues):
        rows = [row for row in live if row.queue == name]
        queues.append(
            QueueSnapshot(
                queue=name,
                waiting=sum(row.waiting for row in rows),
                longest_wait=max((row.longest_wait for row in rows), default=0.0),
                by_priority=rows,
            )
        )
    counts = await console.handlers.counts()
    return FloorSnapshot(queues=queues, handlers={state.value: n for state, n in counts.items()})


async def statistics(call: Call) -> StatsReport:
    try:
        window = Window(call.query.get("window", Window.LAST_15_MINUTES.value))
    except ValueError:
        raise Invalid("window must be one of 15m, 1h, today") from None
    figures = await call.console.stats.window(window, call.console.clock.now())
    return StatsReport(window=window, figures=figures)


# Handlers


def own(call: Call) -> str:
    handler_id = str(call.path["handler_id"])
    if not call.principal.may_act_for(handler_id):
        raise Forbidden("a handler may act only for themselves")
    return handler_id


async def create_handler(call: Call) -> Handler:
    console = call.console
    profile: HandlerProfile = call.body
    await check_skills(call, profile)
    now = console.clock.now()
    if not await console.handlers.create(profile, now):
        raise Conflict(f"handler {profile.id!r} exists already")
    await console.audit.record(call.principal.name, "handler.create", profile.id, now)
    return await console.handlers.get(profile.id)


async def update_handler(call: Call) -> Handler:
    console = call.console
    profile: HandlerProfile = call.body
    if profile.id != call.path["handler_id"]:
        raise Invalid("the id in the body differs from the one in the path")
    await check_skills(call, profile)
    await console.handlers.update_profile(profile)
    await console.audit.record(
        call.principal.name, "handler.update", profile.id, console.clock.now()
    )
    return await console.handlers.get(profile.id)


async def check_skills(call: Call, profile: HandlerProfile) -> None:
    known = set((await call.console.rulebook.active()).skills)
    unknown = sorted(set(profile.skills) - known)
    if unknown:
        raise Invalid(
            "unknown skills", [f"skills.{skill}: not a skill of the rule set" for skill in unknown]
        )


async def list_handlers(call: Call) -> list[Handler]:
    return await call.console.handlers.all()


async def get_handler(call: Call) -> Handler:
    return await call.console.handlers.get(own(call))


async def change_state(call: Call) -> Handler:
    console = call.console
    handler_id = own(call)
    body: StateChange = call.body
    now = console.clock.now()
    await console.handlers.choose(handler_id, body.state, now, body.reason)
    if call.principal.handler != handler_id:  # a supervisor acting for a handler
        await console.audit.record(
            call.principal.name, "handler.state", handler_id, now, state=body.state.value
        )
    if body.state is HandlerState.AVAILABLE:
        await console.assign()
    return await console.handlers.get(handler_id)


async def heartbeat(call: Call) -> Heartbeat:
    handler_id = own(call)
    now = call.console.clock.now()
    await call.console.handlers.heartbeat(handler_id, now)
    return Heartbeat(handler=handler_id, at=now)


# Callbacks


class CallbackView(BaseModel):
    callback: Callback
    overdue: bool
    history: list[HistoryEntry] = []


class CallbackChange(Body):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CallbackPriority(Body):
    priority: Annotated[int, Field(ge=2, le=5)]  # never 1: that is for callers on the line
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CallbackReport(BaseModel):
    window: Window
    figures: list[CallbackFigures]


def view(callback: Callback, now: float, history: list[HistoryEntry] | None = None) -> CallbackView:
    return CallbackView(callback=callback, overdue=callback.overdue(now), history=history or [])


async def list_callbacks(call: Call) -> list[CallbackView]:
    console = call.console
    now = console.clock.now()
    wanted_status = call.query.get("status")
    wanted_priority = call.query.get("priority")
    overdue_only = call.query.get("overdue") in ("1", "true", "yes")
    if wanted_status is not None and wanted_status not in set(CallbackStatus):
        raise Invalid(f"status must be one of {', '.join(CallbackStatus)}")
    rows = []
    for callback in await console.callbacks.latest():
        if wanted_status is not None and callback.status != wanted_status:
            continue
        if wanted_priority is not None and str(int(callback.priority)) != wanted_priority:
            continue
        if overdue_only and not callback.overdue(now):
            continue
        rows.append(view(callback, now))
    return rows


async def get_callback(call: Call) -> CallbackView:
    console = call.console
    callback_id = str(call.path["callback_id"])
    callback = await callbacks_get(console, callback_id)
    return view(callback, console.clock.now(), await console.callbacks.history(callback_id))


async def callbacks_get(console: Console, callback_id: str) -> Callback:
    try:
        return await console.callbacks.get(callback_id)
    except UnknownCallback as error:
        raise NotFound(str(error)) from None


async def cancel_callback(call: Call) -> CallbackView:
    console = call.console
    body: CallbackChange = call.body
    callback_id = str(call.path["callback_id"])
    now = console.clock.now()
    outcome = await console.callbacks.cancel(callback_id, call.principal.name, body.reason, now)
    if outcome == "unknown":
        raise NotFound(f"no callback {callback_id!r}")
    if outcome != "cancelled":
        raise Conflict(f"the callback is {outcome} and cannot be cancelled now")
    await console.audit.record(
        call.principal.name, "callback.cancel", callback_id, now, reason=body.reason
    )
    return view(
        await callbacks_get(console, callback_id), now, await console.callbacks.history(callback_id)
    )


async def reprioritise_callback(call: Call) -> CallbackView:
    console = call.console
    body: CallbackPriority = call.body
    callback_id = str(call.path["callback_id"])
    now = console.clock.now()
    outcome = await console.callbacks.reprioritise(
        callback_id,
        Priority(body.priority),
        call.principal.name,
        body.reason,
        (await console.rulebook.active()).callbacks,
        now,
    )
    if outcome == "unknown":
        raise NotFound(f"no callback {callback_id!r}")
    if outcome not in ("pending", "scheduled", "unreachable"):
        raise Conflict(f"the callback is {outcome} and cannot be changed now")
    await console.audit.record(
        call.principal.name,
        "callback.priority",
        callback_id,
        now,
        priority=body.priority,
        reason=body.reason,
    )
    if outcome == "pending":
        await console.assign()
    return view(
        await callbacks_get(console, callback_id), now, await console.callbacks.history(callback_id)
    )


async def callback_statistics(call: Call) -> CallbackReport:
    try:
        window = Window(call.query.get("window", Window.TODAY.value))
    except ValueError:
        raise Invalid("window must be one of 15m, 1h, today") from None
    return CallbackReport(
        window=window, figures=await call.console.stats.callbacks(window, call.console.clock.now())
    )


async def audit_log(call: Call) -> list[AuditEntry]:
    try:
        count = max(1, min(1000, int(call.query.get("count", "100"))))
    except ValueError:
        raise Invalid("count must be a number") from None
    return await call.console.audit.latest(count, call.query.get("action"))


ENDPOINTS = [
    Endpoint("GET", "/api/v1/rules", "Get the active rule set", active_rules, EVERYONE, response=Version),
    Endpoint("GET", "/api/v1/rules/versions", "List rule set versions", list_versions, SUPERVISORS, response=list[VersionInfo]),
    Endpoint("GET", "/api/v1/rules/versions/{number:int}", "Get a rule set version", get_version, SUPERVISORS, response=Version),
    Endpoint("POST", "/api/v1/rules/versions", "Create a rule set version", create_version, SUPERVISORS, body=NewVersion, response=VersionInfo, status=201),
    Endpoint("POST", "/api/v1/rules/versions/{number:int}/activate", "Activate a rule set version", activate_version, SUPERVISORS, body=Activation, response=ActivationResult),
    Endpoint("POST", "/api/v1/rules/dry-run", "Dry-run a call through the rules", dry_run, SUPERVISORS, body=DryRun, response=DryRunResult),
    Endpoint("GET", "/api/v1/queues", "Snapshot the queues and handlers", floor, SUPERVISORS, response=FloorSnapshot),
    Endpoint("GET", "/api/v1/stats", "Get statistics", statistics, SUPERVISORS, response=StatsReport, query={"window": "15m, 1h or today (default 15m)"}),
    Endpoint("GET", "/api/v1/handlers", "List handlers", list_handlers, SUPERVISORS, response=list[Handler]),
    Endpoint("POST", "/api/v1/handlers", "Create a handler", create_handler, SUPERVISORS, body=HandlerProfile, response=Handler, status=201),
    Endpoint("GET", "/api/v1/handlers/{handler_id}", "Get a handler", get_handler, EVERYONE, response=Handler),
    Endpoint("PUT", "/api/v1/handlers/{handler_id}", "Update a handler", update_handler, SUPERVISORS, body=HandlerProfile, response=Handler),
    Endpoint("PUT", "/api/v1/handlers/{handler_id}/state", "Change a handler's state", change_state, EVERYONE, body=StateChange, response=Handler),
    Endpoint("POST", "/api/v1/handlers/{handler_id}/heartbeat", "Send a handler heartbeat", heartbeat, EVERYONE, response=Heartbeat),
    Endpoint("GET", "/api/v1/callbacks", "List callbacks", list_callbacks, SUPERVISORS, response=list[CallbackView], query={"status": "only this status", "priority": "only this priority class", "overdue": "true: only those past their target"}),
    Endpoint("GET", "/api/v1/callbacks/statistics", "Get callback statistics", callback_statistics, SUPERVISORS, response=CallbackReport, query={"window": "15m, 1h or today (default today)"}),
    Endpoint("GET", "/api/v1/callbacks/{callback_id}", "Get a callback and its history", get_callback, SUPERVISORS, response=CallbackView),
    Endpoint("POST", "/api/v1/callbacks/{callback_id}/cancel", "Cancel a callback", cancel_callback, SUPERVISORS, body=CallbackChange, response=CallbackView),
    Endpoint("PUT", "/api/v1/callbacks/{callback_id}/priority", "Re-prioritise a callback", reprioritise_callback, SUPERVISORS, body=CallbackPriority, response=CallbackView),
    Endpoint("GET", "/api/v1/audit", "Read the audit log", audit_log, SUPERVISORS, response=list[AuditEntry], query={"count": "how many, newest first (default 100)", "action": "only this action"}),
]  # fmt: skip


def routes() -> list[BaseRoute]:
    spec = openapi.document(ENDPOINTS)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(spec)

    return [
        *(route(endpoint) for endpoint in ENDPOINTS),
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
    ]
