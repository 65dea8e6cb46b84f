"""The wallboard's chart of the last hour: calls offered, answered and abandoned per clock minute,
counted from the same samples as the figures, laid out as SVG geometry for a template to draw."""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel

from console.web.templates import clock
from routing.figures import CALLBACKS, LINE, Kind
from routing.stats import Stats

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28


class Minute(BaseModel):
    start: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0


class Bar(BaseModel):
    x: float
    y: float
    width: float
    height: float
    kind: str  # "answered" or "abandoned"
    label: str


class Tick(BaseModel):
    at: float
    label: str


class Chart(BaseModel):
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: float = HEIGHT - BOTTOM
    bars: list[Bar]
    offered_line: str  # SVG polyline points: calls offered per minute
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    offered: int
    answered: int
    abandoned: int


async def last_hour(stats: Stats, now: float) -> list[Minute]:
    """Each clock minute of [now - 1 h, now], the first and last cut at the window's edges, so
    that the bars add up to the "1h" figures."""
    since = now - 3600
    counts = Counter(
        (int(sample.at // 60) * 60, sample.kind)
        for sample in await stats.samples(since, now)
        if sample.queue not in (CALLBACKS, LINE)
    )
    return [
        Minute(
            start=start,
            offered=counts[(start, Kind.OFFERED)],
            answered=counts[(start, Kind.ANSWERED)],
            abandoned=counts[(start, Kind.ABANDONED)],
        )
        for start in range(int(since // 60) * 60, int(now // 60) * 60 + 1, 60)
    ]


def nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def chart(minutes: list[Minute]) -> Chart:
    top = nice_ceiling(max((max(m.answered + m.abandoned, m.offered) for m in minutes), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(minutes), 1)
    bars = []
    for index, minute in enumerate(minutes):
        x = LEFT + index * slot + slot * 0.15
        base = float(HEIGHT - BOTTOM)
        for kind, count in (("answered", minute.answered), ("abandoned", minute.abandoned)):
            if not count:
                continue
            height = plot_height * count / top
            base -= height
            bars.append(
                Bar(
                    x=round(x, 1),
                    y=round(base, 1),
                    width=round(slot * 0.7, 1),
                    height=round(height, 1),
                    kind=kind,
                    label=f"{clock(minute.start)[:5]}: {count} {kind}",
                )
            )
    offered_line = " ".join(
        f"{round(LEFT + (index + 0.5) * slot, 1)},"
        f"{round(HEIGHT - BOTTOM - plot_height * minute.offered / top, 1)}"
        for index, minute in enumerate(minutes)
    )
    y_ticks = [
        Tick(at=round(HEIGHT - BOTTOM - plot_height * value / top, 1), label=str(value))
        for value in sorted({0, top // 2, top})
    ]
    x_ticks = [
        Tick(at=round(LEFT + index * slot, 1), label=clock(minutes[index].start)[:5])
        for index in range(0, len(minutes), 15)
    ]
    return Chart(
        bars=bars,
        offered_line=offered_line,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        offered=sum(m.offered for m in minutes),
        answered=sum(m.answered for m in minutes),
        abandoned=sum(m.abandoned for m in minutes),
    )
