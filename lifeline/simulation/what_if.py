"""What-if: a rule set version not yet active, and the active one, each run through the same
simulated day (the same callers, the same seed), compared figure by figure against the NHS
targets. A worker job (`what_if`) on the simulations queue, which no pool serving callers
reads; its progress and result go to the run's record (routing/simulations.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, NamedTuple

from pydantic import BaseModel, computed_field

from config.redis_client import sync_client
from lifeline.simulation.inputs import Scenario, scenario_from
from lifeline.simulation.recorded import RecordedCall, recorded_day
from lifeline.simulation.report import (
    ABANDONED_TARGET,
    ASA_TARGET_SECONDS,
    CALLBACK_ON_TIME_TARGET,
    SERVICE_LEVEL_TARGET,
)
from lifeline.simulation.run import Result, simulate_on_own_redis
from routing.clock import SystemClock
from routing.rulebook import RuleBook
from routing.rules import RuleSet
from routing.simulations import Simulations, WhatIf
from workers.runtime import job_settings, runtime

log = logging.getLogger(__name__)


def scenario_of(request: WhatIf, recorded: list[RecordedCall] | None = None) -> Scenario:
    """The packaged profile's day; with `recorded`, that day's recorded calls instead of the
    profile's demand."""
    scenario = scenario_from(start=request.day, hours=request.hours, seed=request.seed)
    demand = scenario.demand.model_copy(update={"factor": request.factor})
    return scenario.model_copy(update={"demand": demand, "recorded": recorded or []})


# Which way each figure is better; the rest (counts of calls) are neither.
BETTER = {
    "service_level": "higher",
    "average_speed_of_answer": "lower",
    "abandoned_after_30s_rate": "lower",
    "p1_longest_time_to_reach": "lower",
    "p1_p95_time_to_reach": "lower",
    "answer_p95": "lower",
    "longest_wait": "lower",
    "abandoned": "lower",
    "answered": "higher",
    "callbacks_on_time": "higher",
    "callbacks_made": "higher",
    "callbacks_unreachable": "lower",
}


class Row(BaseModel):
    """One figure of the day under each version; a figure with a target says whether each
    version misses it."""

    figure: str
    name: str
    target: str = ""
    draft: float | None
    active: float | None
    draft_misses: bool = False
    active_misses: bool = False
    priority: int | None = None  # a priority class's figure (None: the whole line's)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def worse(self) -> bool:
        """The draft's figure is worse than the active version's (for a figure that has a
        better way: shorter waits, fewer abandoned, more answered in time)."""
        if self.draft is None or self.active is None or self.figure not in BETTER:
            return False
        lower = BETTER[self.figure] == "lower"
        return self.draft > self.active if lower else self.draft < self.active


class HourRow(BaseModel):
    hour: int
    draft_service_level: float | None
    active_service_level: float | None
    draft_average_speed_of_answer: float | None
    active_average_speed_of_answer: float | None


class Comparison(BaseModel):
    version: int
    active_version: int | None
    request: WhatIf
    rows: list[Row]
    hours: list[HourRow]
    misses: list[str]  # the figures the draft misses the target of and the active one meets
    # Sections the draft changes that the simulator does not exercise (yet): its figures cannot
    # show what those changes would do.
    unexercised: list[str] = []


def _misses(value: float | None, target: float, at_most: bool) -> bool:
    if value is None:
        return False
    return value > target if at_most else value < target


UNEXERCISED = {
    "onward": "sending callers on (no simulated handler does yet)",
    "degraded": "degraded mode (the what-if's day has no outage)",
}


def unexercised(draft: RuleSet, active: RuleSet) -> list[str]:
    return [
        said for name, said in UNEXERCISED.items() if getattr(draft, name) != getattr(active, name)
    ]


def compare(
    version: int,
    active_version: int | None,
    request: WhatIf,
    draft: Result,
    active: Result,
    p1_limit: float,
    changed: list[str] | None = None,
) -> Comparison:
    d, a = draft.days[0].report.total, active.days[0].report.total
    targeted = [
        ("service_level", "Answered within 60 s", "95% or more", SERVICE_LEVEL_TARGET, False),
        ("average_speed_of_answer", "Average speed to answer", "20 s or less",
         ASA_TARGET_SECONDS, True),
        ("abandoned_after_30s_rate", "Abandoned after 30 s", "3% or less", ABANDONED_TARGET, True),
        ("p1_longest_time_to_reach", "Priority 1: longest to a handler or dispatch",
         f"{p1_limit:.0f} s or less", p1_limit, True),
    ]  # fmt: skip
    rows = [
        Row(
            figure=figure,
            name=name,
            target=said,
            draft=getattr(d, figure),
            active=getattr(a, figure),
            draft_misses=_misses(getattr(d, figure), target, at_most),
            active_misses=_misses(getattr(a, figure), target, at_most),
        )
        for figure, name, said, target, at_most in targeted
    ]
    # The same callers call under both versions; how many reach a queue may differ a little (one
    # calling again with a callback still to come keeps it, and is not queued).
    calls = (float(draft.counts.get("calls", 0)), float(active.counts.get("calls", 0)))
    rows.append(Row(figure="calls", name="Calls to the line", draft=calls[0], active=calls[1]))
    for figure, name in (
        ("offered", "Calls offered"),
        ("longest_wait", "Longest wait"),
        ("answered", "Answered"),
        ("answer_p95", "95th percentile of the wait"),
        ("abandoned", "Abandoned"),
        ("dispatched", "Sent to the dispatch line"),
        ("diverted", "Sent to another service"),
        ("p1_p95_time_to_reach", "Priority 1: 95th percentile to reach"),
    ):
        rows.append(
            Row(figure=figure, name=name, draft=getattr(d, figure), active=getattr(a, figure))
        )
    rows += by_class(draft, active)
    rows += callbacks_by_class(draft, active)
    hours = [
        HourRow(
            hour=dh.hour,
            draft_service_level=dh.total.service_level,
            active_service_level=ah.total.service_level,
            draft_average_speed_of_answer=dh.total.average_speed_of_answer,
            active_average_speed_of_answer=ah.total.average_speed_of_answer,
        )
        for dh, ah in zip(draft.days[0].hours, active.days[0].hours, strict=True)
    ]
    return Comparison(
        version=version,
        active_version=active_version,
        request=request,
        rows=rows,
        hours=hours,
        misses=[row.name for row in rows if row.draft_misses and not row.active_misses],
        unexercised=changed or [],
    )


def callbacks_by_class(draft: Result, active: Result) -> list[Row]:
    """Each class's callbacks under each version: made within their target (against the
    90% bar), made, and left unreachable."""
    d = {c.priority: c for c in draft.days[0].callbacks}
    a = {c.priority: c for c in active.days[0].callbacks}
    rows = []
    for priority in sorted(d.keys() | a.keys()):
        dc, ac = d.get(priority), a.get(priority)
        on_time = (dc.on_time_rate if dc else None, ac.on_time_rate if ac else None)
        rows.append(
            Row(
                figure="callbacks_on_time",
                name=f"Priority {priority}: callbacks made within their target",
                target="90% or more",
                draft=on_time[0],
                active=on_time[1],
                draft_misses=_misses(on_time[0], CALLBACK_ON_TIME_TARGET, False),
                active_misses=_misses(on_time[1], CALLBACK_ON_TIME_TARGET, False),
                priority=priority,
            )
        )
        for figure, name in (("made", "callbacks made"), ("unreachable", "callbacks unreachable")):
            rows.append(
                Row(
                    figure=f"callbacks_{figure}",
                    name=f"Priority {priority}: {name}",
                    draft=getattr(dc, figure) if dc else None,
                    active=getattr(ac, figure) if ac else None,
                    priority=priority,
                )
            )
    return rows


def _classes(result: Result) -> dict[int, dict[str, float]]:
    """Each priority class across its queues: offered, abandoned, longest wait, the share
    answered within 60 s."""
    classes: dict[int, dict[str, float]] = {}
    for row in result.days[0].report.figures:
        c = classes.setdefault(
            row.priority, {"offered": 0, "abandoned": 0, "answered": 0, "within": 0, "longest": 0}
        )
        c["offered"] += row.offered
        c["abandoned"] += row.abandoned
        c["answered"] += row.answered
        c["within"] += row.answered_within_60s
        c["longest"] = max(c["longest"], row.longest_wait or 0)
    return classes


def _share_within(c: dict[str, float]) -> float | None:
    return c["within"] / c["answered"] if c.get("answered") else None


Figure = Callable[[dict[str, float]], float | None]
CLASS_FIGURES: Final[tuple[tuple[str, str, Figure], ...]] = (
    ("offered", "offered", lambda c: c.get("offered")),
    ("service_level", "answered within 60 s", _share_within),
    ("abandoned", "abandoned", lambda c: c.get("abandoned")),
    ("longest_wait", "longest wait", lambda c: c.get("longest")),
)


def by_class(draft: Result, active: Result) -> list[Row]:
    """The figures of each priority class side by side: aging, say, shows in the lower ones."""
    d, a = _classes(draft), _classes(active)
    return [
        Row(
            figure=figure,
            name=f"Priority {priority}: {name}",
            draft=value(d.get(priority, {})),
            active=value(a.get(priority, {})),
            priority=priority,
        )
        for priority in sorted(set(d) | set(a))
        for figure, name, value in CLASS_FIGURES
    ]


def compare_versions(
    draft: RuleSet,
    active: RuleSet,
    request: WhatIf,
    progress: Callable[[float], None] | None = None,
    recorded: list[RecordedCall] | None = None,
) -> tuple[Result, Result]:
    """The same day under each: the draft first (the first half of the progress)."""
    scenario = scenario_of(request, recorded)

    def half(offset: float) -> Callable[[float], None]:
        return lambda share: progress(offset + share / 2) if progress else None

    return (
        simulate_on_own_redis(scenario, draft, half(0.0)),
        simulate_on_own_redis(scenario, active, half(0.5)),
    )


class Asked(NamedTuple):
    version: int
    draft: RuleSet
    active_number: int | None
    active: RuleSet
    request: WhatIf
    recorded: list[RecordedCall] | None  # a recorded day's calls, if those were asked for


async def _asked(simulation_id: str) -> Asked:
    async with runtime() as rt:
        run = await Simulations(rt.redis).get(simulation_id)
        if run is None:
            raise LookupError(f"no what-if run {simulation_id}")
        book = RuleBook(rt.redis, rt.audit)
        draft = (await book.get(run.version)).rules
        active_number = await book.active_number()
        active = await book.active()
        request = WhatIf(**run.request)
        recorded = None
        if request.calls == "recorded":
            welsh = rt.settings.welsh_line_numbers
            recorded = await recorded_day(rt.redis, request.day, welsh)
            if not recorded:
                raise LookupError(
                    f"no calls recorded on {request.day} (kept for the retention days)"
                )
        return Asked(run.version, draft, active_number, active, request, recorded)


async def _finish(simulation_id: str, comparison: str | None, error: str = "") -> None:
    async with runtime() as rt:
        runs = Simulations(rt.redis)
        if comparison is not None:
            await runs.done(simulation_id, comparison)
        else:
            await runs.failed(simulation_id, error)


def what_if(simulation_id: str) -> str:
    """The job: both runs, then the comparison in the run's record (or why it failed)."""
    settings = job_settings()
    try:
        version, draft, active_number, active, request, recorded = asyncio.run(
            _asked(simulation_id)
        )
    except Exception as error:
        asyncio.run(_finish(simulation_id, None, f"the run could not start: {error}"))
        raise
    progress_client = sync_client(settings.redis)
    said = [-1.0]

    def progress(share: float) -> None:
        if share - said[0] >= 0.01:
            said[0] = share
            Simulations.progressed(progress_client, simulation_id, share, SystemClock().now())

    try:
        results = compare_versions(draft, active, request, progress, recorded)
    except Exception as error:
        log.exception("what-if run failed", extra={"simulation": simulation_id})
        asyncio.run(_finish(simulation_id, None, f"the simulation failed: {error}"))
        raise
    finally:
        progress_client.close()
    # The stricter of the two limits: a draft may not set its own bar higher.
    limit = float(
        min(draft.emergency.handler_limit_seconds, active.emergency.handler_limit_seconds)
    )
    comparison = compare(
        version,
        active_number,
        request,
        *results,
        p1_limit=limit,
        changed=unexercised(draft, active),
    )
    asyncio.run(_finish(simulation_id, comparison.model_dump_json()))
    return "done"
