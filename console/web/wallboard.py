"""The supervisor's wallboard: per queue and priority, who waits and how the line is doing
against its targets; handlers by state; callbacks due and overdue; the last hour; all live."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

from console.context import Console
from console.web.charts import chart, last_hour
from console.web.pages import Page, View
from console.web.sse import Feed
from routing.callbacks import LIVE, CallbackStatus
from routing.handlers import HandlerState
from routing.stats import Window, waiting_now

# REFERENCE.md: 95% answered within 60 s; average answer within 20 s; at most 3% abandoned.
SERVICE_LEVEL_TARGET = 0.95
ANSWER_TARGET_SECONDS = 20.0
ABANDONED_TARGET = 0.03
WINDOWS = {
    Window.LAST_15_MINUTES: "last 15 minutes",
    Window.LAST_HOUR: "last hour",
    Window.TODAY: "today",
}
CALLBACKS_READ = 2000  # the most recent callbacks counted for due and overdue


class Row(BaseModel):
    queue: str
    priority: int
    waiting: int = 0
    longest_wait: float | None = None
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    service_level: float | None = None
    average_answer: float | None = None
    abandoned_rate: float | None = None
    p1_average: float | None = None
    p1_longest: float | None = None

    @property
    def below_service_level(self) -> bool:
        return self.service_level is not None and self.service_level < SERVICE_LEVEL_TARGET

    @property
    def slow_answer(self) -> bool:
        return self.average_answer is not None and self.average_answer > ANSWER_TARGET_SECONDS

    @property
    def many_abandoned(self) -> bool:
        return self.abandoned_rate is not None and self.abandoned_rate > ABANDONED_TARGET


class CallbackCounts(BaseModel):
    due: int = 0  # waiting to be made now
    scheduled: int = 0  # a retry later
    overdue: int = 0
    at_risk: int = 0
    unreachable: int = 0  # every attempt failed: for a clinician


class Floor(BaseModel):
    window: Window
    rows: list[Row]
    total: Row
    handlers: dict[str, int]
    callbacks: CallbackCounts


def weighted(rows: list[Row], value: str, weight: str) -> float | None:
    pairs = [(getattr(r, value), getattr(r, weight)) for r in rows if getattr(r, value) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def totals(rows: list[Row]) -> Row:
    ended = [r.model_copy(update={"offered": r.answered + r.abandoned}) for r in rows]
    return Row(
        queue="all",
        priority=0,
        waiting=sum(r.waiting for r in rows),
        longest_wait=max(
            (r.longest_wait for r in rows if r.longest_wait is not None), default=None
        ),
        offered=sum(r.offered for r in rows),
        answered=sum(r.answered for r in rows),
        abandoned=sum(r.abandoned for r in rows),
        service_level=weighted(ended, "service_level", "offered"),
        average_answer=weighted(rows, "average_answer", "answered"),
        abandoned_rate=weighted(ended, "abandoned_rate", "offered"),
        p1_average=next((r.p1_average for r in rows if r.priority == 1 and r.p1_average), None),
        p1_longest=max((r.p1_longest for r in rows if r.p1_longest is not None), default=None),
    )


async def callback_counts(console: Console, now: float) -> CallbackCounts:
    counts = CallbackCounts()
    for callback in await console.callbacks.latest(CALLBACKS_READ):
        live = callback.status in LIVE
        counts.due += callback.status is CallbackStatus.PENDING
        counts.overdue += callback.overdue(now)
        counts.at_risk += live and callback.at_risk
    # These two have indexes of their own: exact, however old the callbacks.
    counts.scheduled = await console.callbacks.count(CallbackStatus.SCHEDULED)
    counts.unreachable = await console.callbacks.count(CallbackStatus.UNREACHABLE)
    return counts


async def floor(console: Console, window: Window, now: float) -> Floor:
    rules = await console.rulebook.active()
    rows: dict[tuple[str, int], Row] = {}
    for live in await waiting_now(console.redis, sorted(rules.queues), now):
        rows[(live.queue, live.priority)] = Row(
            queue=live.queue,
            priority=live.priority,
            waiting=live.waiting,
            longest_wait=live.longest_wait,
        )
    for figures in await console.stats.window(window, now):
        row = rows.get((figures.queue, figures.priority)) or Row(
            queue=figures.queue, priority=figures.priority
        )
        rows[(figures.queue, figures.priority)] = row.model_copy(
            update={
                "offered": figures.offered,
                "answered": figures.answered,
                "abandoned": figures.abandoned,
                "service_level": figures.service_level,
                "average_answer": figures.average_speed_of_answer,
                "abandoned_rate": figures.abandoned_rate,
                "p1_average": figures.p1_average_time_to_reach,
                "p1_longest": figures.p1_longest_time_to_reach,
            }
        )
    ordered = [rows[key] for key in sorted(rows, key=lambda key: (key[1], key[0]))]
    counts = await console.handlers.counts()
    return Floor(
        window=window,
        rows=ordered,
        total=totals(ordered),
        handlers={state.value: counts.get(state, 0) for state in HandlerState},
        callbacks=await callback_counts(console, now),
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
            "_chart.html", chart=chart(await last_hour(page.console.redis, page.now))
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
        chart=chart(await last_hour(page.console.redis, page.now)),
        stream=f"/console/events/wallboard?window={window.value}",
    )


async def events(page: Page) -> Response:
    window = window_of(page)

    async def figures() -> dict[str, str]:
        return await regions(page, window)

    async def hour() -> dict[str, str]:
        return await chart_region(page)

    return page.live([Feed(page.mode_region), Feed(figures), Feed(hour, every=10.0)])


VIEWS = [
    View("/console/wallboard", wallboard),
    View("/console/events/wallboard", events),
]
