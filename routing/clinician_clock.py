"""The number the NHS asks for: the share of "immediate" calls for a clinician (a caller a
handler sends on to one, or a clinician's callback they arrange) where a clinician speaks to the
patient within 20 minutes of the handler's decision, per day and per hour.

Definition (docs/ONWARD.md says the same):
- a request is a handler's decision, at an urgency: sending the caller on to the clinicians'
  queue, or arranging a clinician's callback; it counts in the hour (and day) it was made;
- its clock stops when a clinician first speaks to the patient: answers the call sent on to them,
  or reaches the patient on the callback;
- met: stopped within the urgency's target (immediate: 20 minutes); missed: stopped later, or the
  target passed with nobody reached (the caller hung up, the callback failed); open: neither yet,
  left out of the share until it is one or the other;
- share = met / (met + missed).

The events are in `keys.CLINICIAN_CLOCK` (written by the Lua that makes the request and the
connection), kept as long as the statistics (two days).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.figures import local_midnight, share
from routing.rules import IMMEDIATE


@dataclass(frozen=True)
class Request:
    subject: str  # the call's CallSid, or the callback's id
    urgency: str
    at: float
    target: float
    reached: float | None  # seconds from the request to a clinician, once one spoke to them


class ClinicianFigures(BaseModel):
    since: float
    until: float
    requested: int
    met: int
    missed: int
    open: int
    share: float | None  # met / (met + missed); None with neither
    longest: float | None  # the longest time to a clinician of those reached


class ClinicianDay(BaseModel):
    urgency: str
    day: ClinicianFigures
    hours: list[ClinicianFigures]  # each hour of the day so far, London time


def requests_of(members: Iterable[tuple[str, float]]) -> list[Request]:
    """The requests and their stops, from `(member, score)` pairs; malformed members skipped."""
    asked: dict[str, Request] = {}
    reached: dict[str, float] = {}
    for member, at in members:
        parts = member.split("|", 3)
        if len(parts) != 4:
            continue
        event, urgency, value, subject = parts
        try:
            number = float(value)
        except ValueError:
            continue
        if event == "requested":
            asked[subject] = Request(subject, urgency, at, number, None)
        elif event == "reached":
            reached.setdefault(subject, number)
    return [
        Request(r.subject, r.urgency, r.at, r.target, reached.get(r.subject))
        for r in asked.values()
    ]


def figures(
    requests: Iterable[Request], since: float, until: float, now: float
) -> ClinicianFigures:
    chosen = [r for r in requests if since <= r.at < until]
    met = sum(1 for r in chosen if r.reached is not None and r.reached <= r.target)
    missed = sum(
        1
        for r in chosen
        if (r.reached is not None and r.reached > r.target)
        or (r.reached is None and now - r.at > r.target)
    )
    reached = [r.reached for r in chosen if r.reached is not None]
    return ClinicianFigures(
        since=since,
        until=until,
        requested=len(chosen),
        met=met,
        missed=missed,
        open=len(chosen) - met - missed,
        share=share(met, met + missed),
        longest=max(reached, default=None),
    )


def day_figures(
    requests: Iterable[Request], day_start: float, now: float, urgency: str = IMMEDIATE
) -> ClinicianDay:
    """The day from `day_start` (a London midnight) to `now` or its end, and each hour of it."""
    chosen = [r for r in requests if r.urgency == urgency]
    # Hours an hour apart from midnight (UK offsets are whole hours); a day of 23 or 25 hours
    # (the clocks change) ends at the next midnight.
    end = local_midnight(day_start + 26 * 3600)
    bounds = [day_start + 3600 * hour for hour in range(26)]
    hours = []
    for low, high in itertools.pairwise(bounds):
        if low >= min(now, end):
            break
        hours.append(figures(chosen, low, min(high, end, now), now))
    return ClinicianDay(
        urgency=urgency, day=figures(chosen, day_start, min(now, end), now), hours=hours
    )


async def clinician_day(
    redis: Redis, day_start: float, now: float, urgency: str = IMMEDIATE
) -> ClinicianDay:
    members = await redis.zrangebyscore(keys.CLINICIAN_CLOCK, day_start, "+inf", withscores=True)
    pairs = cast(list[tuple[str, float]], members)
    return day_figures(requests_of(pairs), day_start, now, urgency)
