"""A run's results as files: JSON (everything), CSV (a row per day, hour, queue and priority
class) and an HTML report with charts, self-contained, for a supervisor to show a commissioner."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from lifeline.simulation.run import Day, Result
from routing.figures import Measures

# REFERENCE.md: the targets.
SERVICE_LEVEL_TARGET = 0.95  # answered within 60 s
ASA_TARGET_SECONDS = 20
ABANDONED_TARGET = 0.03
# REFERENCE: 90% of "immediate" callbacks within 20 minutes; held here to each class's own target
# (the rule set's callbacks.targets_seconds).
CALLBACK_ON_TIME_TARGET = 0.90
MEASURES = list(Measures.model_fields)


def write_all(result: Result, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    files = [
        ("result.json", result.model_dump_json(indent=1)),
        ("hours.csv", as_csv(result)),
        ("report.html", as_html(result)),
    ]
    for day in result.days:
        files += [
            (f"day{day.day}-{name}.svg", standalone(svg)) for name, svg in charts(day).items()
        ]
    for name, text in files:
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def rows(result: Result) -> Iterable[dict[str, object]]:
    for day in result.days:
        yield {"day": day.day, "date": day.date, "hour": "", "queue": "all", "priority": ""} | dict(
            day.report.total
        )
        for figures in day.report.figures:
            row = figures.model_dump()
            yield {
                "day": day.day,
                "date": day.date,
                "hour": "",
                "queue": row.pop("queue"),
                "priority": row.pop("priority"),
            } | row
        for hour in day.hours:
            start = {"day": day.day, "date": day.date, "hour": hour.hour}
            yield start | {"queue": "all", "priority": ""} | dict(hour.total)
            for row in hour.by_queue:
                row = dict(row)
                yield start | {"queue": row.pop("queue"), "priority": row.pop("priority")} | row


def as_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["day", "date", "hour", "queue", "priority", *MEASURES])
    writer.writeheader()
    for row in rows(result):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def met(value: float | None, target: float, at_most: bool = False) -> str:
    if value is None:
        return ""
    return "met" if (value <= target if at_most else value >= target) else "missed"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def summary_rows(day: Day) -> list[tuple[str, str, str, str]]:
    t = day.report.total
    return [
        ("Calls offered", str(t.offered), "", ""),
        ("Answered within 60 s", percent(t.service_level), "95%", met(t.service_level, 0.95)),
        (
            "Average speed to answer",
            secs(t.average_speed_of_answer),
            "20 s or less",
            met(t.average_speed_of_answer, ASA_TARGET_SECONDS, at_most=True),
        ),
        (
            "Abandoned (after 30 s)",
            percent(t.abandoned_after_30s_rate),
            "3% or less",
            met(t.abandoned_after_30s_rate, ABANDONED_TARGET, at_most=True),
        ),
        ("Priority 1 reached (p95)", secs(t.p1_p95_time_to_reach), "", ""),
        ("Priority 1 reached (longest)", secs(t.p1_longest_time_to_reach), "", ""),
        ("Sent to the dispatch line", str(t.dispatched), "", ""),
        ("Terminated in the IVR", str(day.report.terminated), "", ""),
        *callback_rows(day),
    ]


def callback_rows(day: Day) -> list[tuple[str, str, str, str]]:
    """Each class's callbacks: booked, made (within its target), and left unreachable."""
    rows = []
    for c in day.callbacks:
        if not (c.accepted or c.made or c.unreachable):
            continue
        rows += [
            (f"Priority {c.priority} callbacks booked, made", f"{c.accepted}, {c.made}", "", ""),
            (
                f"Priority {c.priority} callbacks made within target",
                percent(c.on_time_rate),
                "90%",
                met(c.on_time_rate, CALLBACK_ON_TIME_TARGET),
            ),
            (f"Priority {c.priority} callbacks unreachable", str(c.unreachable), "", ""),
        ]
    return rows


def chart(
    title: str,
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    target: float | None = None,
    unit: str = "",
) -> str:
    """A line chart over the hours of a day, in SVG: each series (name, colour, 24 values), and a
    dashed target line."""
    width, height, left, bottom = 640, 236, 48, 28
    values = [v for _, _, points in series for v in points if v is not None]
    top = max([*values, target or 0, 1e-9]) * 1.1
    plot_w, plot_h = width - left - 10, height - bottom - 36

    def x(i: int) -> float:
        return left + plot_w * i / 23

    def y(v: float) -> float:
        return 36 + plot_h * (1 - v / top)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="14" class="t">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{y(0)}" x2="{width - 10}" y2="{y(0)}" class="axis"/>',
    ]
    for tick in (0.5, 1.0):
        parts.append(
            f'<text x="{left - 4}" y="{y(top / 1.1 * tick) + 4}" class="l" text-anchor="end">'
            f"{top / 1.1 * tick:.3g}{unit}</text>"
        )
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{x(hour)}" y="{height - 8}" class="l">{hour:02d}h</text>')
    if target is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(target)}" x2="{width - 10}" y2="{y(target)}" '
            f'class="target"/><text x="{width - 12}" y="{y(target) - 4}" class="l" '
            f'text-anchor="end">target {target:g}{unit}</text>'
        )
    for name, colour, points in series:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(points) if v is not None)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">')
        parts.append(f"<title>{html.escape(name)}</title></polyline>")
    legend = " ".join(
        f'<tspan fill="{colour}">&#9632; {html.escape(name)}</tspan>' for name, colour, _ in series
    )
    parts.append(f'<text x="{left}" y="29" class="l">{legend}</text></svg>')
    return "".join(parts)


def charts(day: Day) -> dict[str, str]:
    """The day's charts by name: the wait, the service level, abandonment, staffing."""
    hours = day.hours
    wait = chart(
        "Wait to answer through the day (seconds)",
        [
            ("average", "#1f5fa8", [h.total.average_speed_of_answer for h in hours]),
            ("95th percentile", "#c2410c", [h.total.answer_p95 for h in hours]),
        ],
        target=60,
        unit="s",
    )
    service = chart(
        "Answered within 60 s (%)",
        [("service level", "#15803d", [_pct(h.total.service_level) for h in hours])],
        target=95,
        unit="%",
    )
    abandoned = chart(
        "Abandoned after 30 s (% of offered)",
        [("abandoned", "#b91c1c", [_pct(h.total.abandoned_after_30s_rate) for h in hours])],
        target=3,
        unit="%",
    )
    staffing = chart(
        "Staffing against demand",
        [
            ("calls offered an hour", "#6b7280", [float(h.total.offered) for h in hours]),
            ("handlers signed in", "#1f5fa8", [h.handlers_on_duty for h in hours]),
            ("handlers talking (occupancy x signed in)", "#7c3aed", [_talking(h) for h in hours]),
        ],
    )
    return {"wait": wait, "service": service, "abandoned": abandoned, "staffing": staffing}


def standalone(svg: str) -> str:
    """A chart as an SVG file of its own (for slides and documents)."""
    style = f"<style>{STYLE}text{{font-family:sans-serif}}</style>"
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1).replace(
        ">", ">" + style, 1
    )


def day_section(day: Day) -> str:
    table = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td>"
        f'<td class="{d}">{d}</td></tr>'
        for a, b, c, d in summary_rows(day)
    )
    drawn = charts(day)
    wait, service, abandoned, staffing = (
        drawn["wait"],
        drawn["service"],
        drawn["abandoned"],
        drawn["staffing"],
    )
    return (
        f"<section><h2>Day {day.day}: {html.escape(day.weekday.title())} {day.date}</h2>"
        f"<table><tr><th>Figure</th><th>Simulated</th><th>NHS target</th><th></th></tr>"
        f"{table}</table>{wait}{service}{abandoned}{staffing}</section>"
    )


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _talking(hour: object) -> float | None:
    occupancy = getattr(hour, "occupancy", None)
    return None if occupancy is None else occupancy * getattr(hour, "handlers_on_duty", 0.0)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#111}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem}
.met{color:#15803d}.missed{color:#b91c1c;font-weight:bold}
svg{width:100%;max-width:640px;display:block;margin:1rem 0}
.t{font-size:13px;font-weight:bold}.l{font-size:11px;fill:#333}
.axis{stroke:#999}.target{stroke:#b91c1c;stroke-dasharray:4 3}
"""


def as_html(result: Result) -> str:
    days = "".join(day_section(day) for day in result.days)
    counts = html.escape(json.dumps(result.counts, sort_keys=True))
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Lifeline simulation: {html.escape(result.name)}</title><style>{STYLE}</style>"
        f"<h1>Simulated: {html.escape(result.name)}</h1>"
        f"<p>Seed {result.seed}; {len(result.days)} day(s) simulated in "
        f"{result.wall_seconds:.0f} s ({result.speed:.0f} simulated seconds a second). The "
        f"figures are Lifeline's own statistics, as the wallboard shows them.</p>{days}"
        f"<p><small>The model's counts: {counts}</small></p></html>"
    )
