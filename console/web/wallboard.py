"""The supervisor's wallboard: per queue and priority, who waits and how the line is doing
against its targets; handlers by state; callbacks due and overdue; today's immediate requests
for a clinician against their target; the patients' feedback today; the last hour; all live."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

from console.context import Console
from console.web import feedback
from console.web.charts import chart, last_hour
from console.web.pages import Page, View
from console.web.sse import Feed
from console.web.urgency import within
from routing.callbacks import LIVE, Callbacks, CallbackStatus
from routing.clinician_clock import ClinicianFigures, clinician_day
from routing.figures import Measures, Window, local_midnight
from routing.handlers import HandlerState
from routing.rules import IMMEDIATE
from routing.stats import waiting_now

# REFERENCE.md: 95% answered within 60 s; average answer within 20 s; at most 3% abandoned
# (taken, as in the NHS 111 MDS, as abandoned after 30 s of calls offered).
SERVICE_LEVEL_TARGET = 0.95
ANSWER_TARGET_SECONDS = 20.0
ABANDONED_TARGET = 0.03
# And a clinician speaking to 90% of the patients a handler asks one for "immediately" within the
# urgency's target (20 minutes): routing/clinician_clock.py defines the figure.
CLINICIAN_TARGET = 0.90
WINDOWS = {
    Window.LAST_15_MINUTES: "last 15 minutes",
    Window.LAST_HOUR: "last hour",
    Window.TODAY: "today",
}
CALLBACKS_READ = 2000  # the most recent callbacks counted for due and overdue


class Row(BaseModel):
    """A queue and priority class (or all of them): who waits now, and the window's figures."""

    queue: str
    priority: int  # 0 for all queues together
    waiting: int = 0
    longest_waiting: float | None = None  # the caller waiting longest now
    figures: Measures = Measures()

    @property
    def below_service_level(self) -> bool:
        level = self.figures.service_level
        return level is not None and level < SERVICE_LEVEL_TARGET

    @property
    def slow_answer(self) -> bool:
        average = self.figures.average_speed_of_answer
        return average is not None and average > ANSWER_TARGET_SECONDS

    @property
    def many_abandoned(self) -> bool:
        rate = self.figures.abandoned_after_30s_rate
        return rate is not None and rate > ABANDONED_TARGET


class CallbackCounts(BaseModel):
    due: int = 0  # waiting to be made now
    scheduled: int = 0  # a retry later
    overdue: int = 0
    at_risk: int = 0
    unreachable: int = 0  # every attempt failed: for a clinician


class Clinicians(BaseModel):
    """Today's immediate requests for a clinician (a caller sent on to one, or a clinician's
    callback), met within the target or missed."""

    within: str  # the target, as people say it: "20 minutes"
    today: ClinicianFigures

    @property
    def below_target(self) -> bool:
        share = self.today.share
        return share is not None and share < CLINICIAN_TARGET


class Floor(BaseModel):
    window: Window
    since: float
    rows: list[Row]
    total: Row
    terminated: int  # hung up in the IVR: in no row, and not abandoned
    handlers: dict[str, int]
    callbacks: CallbackCounts
    clinicians: Clinicians


async def callback_counts(callbacks: Callbacks, now: float) -> CallbackCounts:
    counts = CallbackCounts()
    for callback in await callbacks.latest(CALLBACKS_READ):
        live = callback.status in LIVE
        counts.due += callback.status is CallbackStatus.PENDING
        counts.overdue += callback.overdue(now)
        counts.at_risk += live and callback.at_risk
    # These two have indexes of their own: exact, however old the callbacks.
    counts.scheduled = await callbacks.count(CallbackStatus.SCHEDULED)
    counts.unreachable = await callbacks.count(CallbackStatus.UNREACHABLE)
    return counts


async def floor(console: Console, window: Window, now: float) -> Floor:
    rules = await console.floor.rulebook.active()
    rows: dict[tuple[str, int], Row] = {}
    for live in await waiting_now(console.floor.redis, sorted(rules.queues), now):
        rows[(live.queue, live.priority)] = Row(
            queue=live.queue,
            priority=live.priority,
            waiting=live.waiting,
            longest_waiting=live.longest_wait,
        )
    report = await console.stats.report(window, now)
    for figures in report.figures:
        key = (figures.queue, figures.priority)
        row = rows.get(key) or Row(queue=figures.queue, priority=figures.priority)
        rows[key] = row.model_copy(update={"figures": figures})
    ordered = [rows[key] for key in sorted(rows, key=lambda key: (key[1], key[0]))]
    total = Row(
        queue="all",
        priority=0,
        waiting=sum(row.waiting for row in ordered),
        longest_waiting=max(
            (row.longest_waiting for row in ordered if row.longest_waiting is not None),
            default=None,
        ),
        figures=report.total,
    )
    counts = await console.floor.handlers.counts()
    return Floor(
        window=window,
        since=report.since,
        rows=ordered,
        total=total,
        terminated=report.terminated,
        handlers={state.value: counts.get(state, 0) for state in HandlerState},
        callbacks=await callback_counts(console.floor.callbacks, now),
        clinicians=Clinicians(
            within=within(rules.onward.urgencies[IMMEDIATE].target_seconds),
            today=(await clinician_day(console.floor.redis, local_midnight(now), now)).day,
        ),
    )


def window_of(page: Page) -> Window:
    try:
        return Window(page.query.get("window", Window.LAST_15_MINUTES.value))
    except ValueError:
        return Window.LAST_15_MINUTES


async def regions(page: Page, window: Window) -> dict[str, str]:
    snapshot = await floor(page.console, window, page.now)
    context = {"floor": snapshot, "windows": WINDOWS}
    return {
        "summary": page.fragment("_wallboard_summary.html", **context),
        "floor": page.fragment("_wallboard_floor.html", **context),
    }


async def chart_region(page: Page) -> dict[str, str]:
    return {
        "chart": page.fragment(
            "_chart.html", chart=chart(await last_hour(page.console.stats, page.now))
        )
    }


async def wallboard(page: Page) -> Response:
    window = window_of(page)
    snapshot = await floor(page.console, window, page.now)
    return await page.render(
        "wallboard.html",
        title="Wallboard",
        floor=snapshot,
        windows=WINDOWS,
        chart=chart(await last_hour(page.console.stats, page.now)),
        feedback=await feedback.today(page),
        stream=f"/console/events/wallboard?window={window.value}",
    )


async def events(page: Page) -> Response:
    window = window_of(page)

    async def figures() -> dict[str, str]:
        return await regions(page, window)

    async def hour() -> dict[str, str]:
        return await chart_region(page)

    async def answers() -> dict[str, str]:
        return await feedback.wallboard_region(page)

    return page.live(
        [
            Feed(page.mode_region),
            Feed(figures),
            Feed(hour, every=10.0),
            Feed(answers, every=feedback.EVERY_SECONDS),
        ]
    )


VIEWS = [
    View("/console/wallboard", wallboard),
    View("/console/events/wallboard", events),
]
