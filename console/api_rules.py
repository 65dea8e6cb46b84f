"""API: rule set versions, activation (waiting calls re-placed), dry runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from console.bodies import Body
from console.dry_run import CallDescription, decide
from console.endpoints import ApiRequest
from console.errors import Forbidden, NotFound
from routing.activation import activate_rule_set
from routing.overflow import ToNumber
from routing.rulebook import Version, VersionInfo
from routing.rules import Decided
from routing.simulations import SimulationRun, Simulations, WhatIf


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


class DryRun(Body, CallDescription):
    """The facts of a call, and optionally when and on which version (default: now, active)."""

    at: AwareDatetime | None = None  # when the call comes (ISO 8601 with offset); default now
    version: int | None = None


class Destination(BaseModel):
    queue: str | None = None
    number: str | None = None


class DryRunResult(BaseModel):
    """`queue`, `priority` and `skills` are where the route places the call; `destination` is
    where it ends up after closed hours and overflow (under the queues' live conditions), and
    `because` lists, in order, the rule behind each step (its path in the rule set)."""

    version: int | None
    at: datetime
    route: str
    queue: str
    priority: int
    skills: list[str]
    destination: Destination
    because: list[str]


def dry_run_result(version: int | None, at: datetime, decided: Decided) -> DryRunResult:
    placed, outcome = decided.placed, decided.outcome
    destination = (
        Destination(number=outcome.number)
        if isinstance(outcome, ToNumber)
        else Destination(queue=outcome.queue)
    )
    return DryRunResult(
        version=version,
        at=at,
        route=placed.route,
        queue=placed.queue,
        priority=int(placed.priority),
        skills=list(placed.skills),
        destination=destination,
        because=list(decided.because),
    )


async def active_rules(api: ApiRequest) -> Version:
    number = await api.floor.rulebook.active_number()
    if number is None:
        raise NotFound("no rule set has been activated")
    return await api.floor.rulebook.get(number)


async def list_versions(api: ApiRequest) -> list[VersionInfo]:
    return await api.floor.rulebook.versions()


async def get_version(api: ApiRequest) -> Version:
    return await api.floor.rulebook.get(int(api.path["number"]))


async def create_version(api: ApiRequest) -> VersionInfo:
    body: NewVersion = api.body
    # An object is checked as its JSON text, so that it meets the same limits, checked once.
    document = body.document if body.document is not None else json.dumps(body.rules)
    return await api.floor.rulebook.create(
        document, api.principal.name, api.floor.clock.now(), body.comment
    )


NEEDS_SCOPE = (
    "activating a rule set needs a token made with the rules scope (lifeline token create "
    "--account U --scope rules) or a supervisor signed in to the console with a second factor"
)


async def activate_version(api: ApiRequest) -> ActivationResult:
    """Where every call goes: not for a supervisor's ordinary token, which a script or a leak
    may hold, only for one an administrator made for it."""
    floor = api.floor
    body: Activation = api.body
    principal = api.principal
    if not principal.may_decide_where_calls_ring:
        raise Forbidden(NEEDS_SCOPE)
    version = await floor.rulebook.get(int(api.path["number"]))
    credential = {"via": "token", "token": principal.token_id, "account": principal.account}
    activated = await activate_rule_set(floor, version, principal.name, body.reason, credential)
    return ActivationResult(
        version=version.number, diff=activated.diff, reevaluated=activated.moved
    )


async def dry_run(api: ApiRequest) -> DryRunResult:
    body: DryRun = api.body
    at = body.at or datetime.fromtimestamp(api.floor.clock.now(), UTC)
    version, decided = await decide(
        api.floor.rulebook, api.floor.queues, body.version, body, at.timestamp()
    )
    return dry_run_result(version, at, decided)


class SimulationAsk(Body, WhatIf):
    """The simulated day to try the version on (every field has a default)."""


async def simulate_version(api: ApiRequest) -> SimulationRun:
    """A what-if: the version and the active one through the same simulated day, by a job on
    the simulations pool (never one that serves callers); poll the run for its comparison."""
    number = int(api.path["number"])
    await api.floor.rulebook.get(number)  # a version that does not exist is a 404
    body: SimulationAsk = api.body
    now = api.floor.clock.now()
    run = await Simulations(api.floor.redis).create(
        number, api.principal.name, WhatIf(**body.model_dump()).model_dump(mode="json"), now
    )
    await api.console.jobs.off_loop(api.console.jobs.what_if, run.id)
    await api.floor.audit.record(api.principal.name, "rules.simulate", f"version {number}", now)
    return run


async def list_simulations(api: ApiRequest) -> list[SimulationRun]:
    return await Simulations(api.floor.redis).latest(api.floor.clock.now())


async def get_simulation(api: ApiRequest) -> SimulationRun:
    simulation_id = str(api.path["simulation_id"])
    run = await Simulations(api.floor.redis).get(simulation_id, api.floor.clock.now())
    if run is None:
        raise NotFound("no such what-if run (they are kept a month)")
    return run
