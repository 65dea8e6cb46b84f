"""The consoles' Jinja2 templates (autoescaped, strict about undefined names) and the filters
that turn stored values into what people read: London times, durations, rates."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from routing.models import Priority, mask

LONDON = ZoneInfo("Europe/London")
NONE = "\u2013"  # an en dash: nothing to show


def clock(at: float | None) -> str:
    if at is None:
        return NONE
    return datetime.fromtimestamp(at, LONDON).strftime("%H:%M:%S")


def hhmm(at: float | None) -> str:
    """To the minute: when something is due, or was decided."""
    if at is None:
        return NONE
    return datetime.fromtimestamp(at, LONDON).strftime("%H:%M")


def when(at: float | None) -> str:
    if at is None:
        return NONE
    local = datetime.fromtimestamp(at, LONDON)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M:%S}"


def iso(at: float | None) -> str:
    return datetime.fromtimestamp(at or 0, LONDON).isoformat(timespec="seconds")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def priority(value: int | None) -> str:
    """`3 (standard)`: the class and its name, so nobody has to remember which way round."""
    if value is None:
        return NONE
    try:
        return f"{value} ({Priority(value).name.lower()})"
    except ValueError:
        return str(value)


def percent(rate: float | None) -> str:
    return NONE if rate is None else f"{rate * 100:.0f}%"


def whole_percent(value: float | None) -> str:
    """A figure that is a percentage already (65.5), to the whole per cent, as NHS England
    publishes the Friends and Family Test."""
    return NONE if value is None else f"{value:.0f}%"


RATES = frozenset(
    {"service_level", "abandoned_after_30s_rate", "p1_reached_within_60s_rate", "callbacks_on_time"}
)
COUNTS = frozenset(
    {
        "calls",
        "offered",
        "answered",
        "abandoned",
        "dispatched",
        "diverted",
        "callbacks_made",
        "callbacks_unreachable",
    }
)


def figure(value: float | None, name: str) -> str:
    """A statistics figure by its name: a share as a percentage, a count whole, a time."""
    if value is None:
        return NONE
    if name in RATES:
        return f"{value * 100:.1f}%"
    if name in COUNTS:
        return f"{value:.0f}"
    return duration(value)


class Templates:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("console", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            clock=clock,
            hhmm=hhmm,
            when=when,
            iso=iso,
            duration=duration,
            percent=percent,
            whole_percent=whole_percent,
            mask=mask,
            priority=priority,
            figure=figure,
        )

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context)
