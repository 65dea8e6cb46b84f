"""The 20-minute figure, worked by hand: requests counted in the hour they were made, met within
the target, missed late or never reached past it, open otherwise and left out of the share."""

from __future__ import annotations

from datetime import datetime

from routing.clinician_clock import day_figures, requests_of
from routing.figures import LONDON

MIDNIGHT = datetime(2026, 3, 10, tzinfo=LONDON).timestamp()


def at(hour: int, minute: int) -> float:
    return MIDNIGHT + hour * 3600 + minute * 60


def test_the_share_within_20_minutes_by_day_and_hour() -> None:
    events = [
        ("requested|immediate|1200|r1", at(9, 5)),
        ("reached|immediate|600.000|r1", at(9, 15)),  # met: 10 minutes
        ("reached|immediate|900.000|r1", at(9, 20)),  # a second stop changes nothing
        ("requested|immediate|1200|r2", at(9, 40)),
        ("reached|immediate|1500.000|r2", at(10, 5)),  # missed: 25 minutes
        ("requested|within_hour|3600|w1", at(9, 30)),  # another urgency: not counted
        ("reached|within_hour|3000.000|w1", at(10, 20)),
        ("requested|immediate|1200|r3", at(10, 10)),  # never reached, 35 minutes on: missed
        ("requested|immediate|1200|r5", at(10, 20)),
        ("reached|immediate|1200.000|r5", at(10, 40)),  # met: exactly 20 minutes
        ("requested|immediate|1200|r4", at(10, 40)),  # 5 minutes on: open
        ("nonsense", at(10, 41)),
    ]

    figures = day_figures(requests_of(events), MIDNIGHT, now=at(10, 45))

    day = figures.day
    assert (day.requested, day.met, day.missed, day.open, day.share) == (5, 2, 2, 1, 0.5)
    assert day.longest == 1500.0
    assert len(figures.hours) == 11  # 00:00 to 10:59, the hour under way included
    nine, ten = figures.hours[9], figures.hours[10]
    assert (nine.requested, nine.met, nine.missed, nine.open, nine.share) == (2, 1, 1, 0, 0.5)
    assert (ten.requested, ten.met, ten.missed, ten.open, ten.share) == (3, 1, 1, 1, 0.5)
    assert (ten.since, ten.until) == (at(10, 0), at(10, 45))
    assert figures.hours[8].share is None  # nothing asked: no share, not 0 %


def test_a_day_the_clocks_go_forward_has_23_hours() -> None:
    spring = datetime(2026, 3, 29, tzinfo=LONDON).timestamp()
    figures = day_figures([], spring, now=spring + 30 * 3600)
    assert len(figures.hours) == 23
    assert figures.day.until == datetime(2026, 3, 30, tzinfo=LONDON).timestamp()


def test_yesterdays_requests_are_judged_now_not_at_midnight() -> None:
    late = [("requested|immediate|1200|r9", at(23, 50))]
    figures = day_figures(requests_of(late), MIDNIGHT, now=at(24, 30))
    assert (figures.day.missed, figures.day.open, figures.day.until) == (1, 0, at(24, 0))
