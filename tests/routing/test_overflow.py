"""Business hours (Europe/London, summer time included) and overflow, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from routing.models import Placement, Priority
from routing.overflow import QueueConditions, ToNumber
from routing.rules import RuleSet, RuleSetError, default_rules, parse_rules


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def rules_with(**queues: dict[str, Any]) -> RuleSet:
    doc = default_rules().model_dump(mode="json")
    for name, changes in queues.items():
        doc["queues"][name].update(changes)
    return parse_rules(doc)


DENTAL_HOURS = {
    "hours": {
        "open": {
            "mon": ["08:00-20:00"],
            "tue": ["08:00-20:00"],
            "sat": ["09:00-12:00", "13:00-24:00"],
        },
        "holidays": ["2026-12-25"],
    },
    "closed": {"queue": "general"},
    "overflow": [],
}

DENTAL = Placement(route="dental", queue="dental", priority=Priority.ROUTINE, skills=("dental",))
STAFFED = QueueConditions(waiting=0, estimated_wait=0.0, skilled_on_duty=3)


@pytest.mark.parametrize(
    ("moment", "queue"),
    [
        ("2026-07-06T07:30:00", "dental"),  # Monday 08:30 BST: open
        ("2026-07-06T06:59:00", "general"),  # Monday 07:59 BST: not yet
        ("2026-01-05T07:30:00", "general"),  # Monday 07:30 GMT: not yet
        ("2026-01-05T08:00:00", "dental"),  # Monday 08:00 GMT: open
        ("2026-01-05T20:00:00", "general"),  # Monday 20:00: closed
        ("2026-01-07T10:00:00", "general"),  # Wednesday: not listed, closed
        ("2026-01-10T12:30:00", "general"),  # Saturday lunch
        ("2026-01-10T23:59:00", "dental"),  # Saturday until midnight
        ("2026-12-25T10:00:00", "general"),  # a holiday (a Friday, but closed anyway)
    ],
)
def test_business_hours_decide_where_a_call_goes(moment: str, queue: str) -> None:
    rules = rules_with(dental=DENTAL_HOURS)
    resolved = rules.resolve(DENTAL, at(moment), {"dental": STAFFED})
    assert isinstance(resolved, Placement)
    assert resolved.queue == queue
    assert resolved.priority is Priority.ROUTINE


@pytest.mark.parametrize(
    ("overflow", "conditions", "expected"),
    [
        ({"longer_than": 5, "to": {"queue": "general"}}, QueueConditions(6, 60.0, 2), "general"),
        ({"longer_than": 5, "to": {"queue": "general"}}, QueueConditions(5, 60.0, 2), "dental"),
        (
            {"wait_over_seconds": 600, "to": {"queue": "general"}},
            QueueConditions(3, 601.0, 1),
            "general",
        ),
        (
            {"wait_over_seconds": 600, "to": {"queue": "general"}},
            QueueConditions(3, 599.0, 1),
            "dental",
        ),
        (
            {"no_skilled_handler": True, "to": {"queue": "general"}},
            QueueConditions(0, None, 0),
            "general",
        ),
        (
            {"no_skilled_handler": True, "to": {"number": "+441632960555"}},
            QueueConditions(0, None, 0),
            "+441632960555",
        ),
    ],
)
def test_overflow_conditions(
    overflow: dict[str, Any], conditions: QueueConditions, expected: str
) -> None:
    rules = rules_with(dental={"overflow": [overflow]})
    resolved = rules.resolve(DENTAL, at("2026-01-05T10:00:00"), {"dental": conditions})
    where = resolved.number if isinstance(resolved, ToNumber) else resolved.queue
    assert where == expected


def test_overflow_follows_a_chain_and_takes_the_skills_of_where_it_ends() -> None:
    rules = rules_with(
        dental={"overflow": [{"no_skilled_handler": True, "to": {"queue": "clinical"}}]},
        clinical={"overflow": [{"no_skilled_handler": True, "to": {"queue": "general"}}]},
    )
    nobody = QueueConditions(waiting=0, estimated_wait=None, skilled_on_duty=0)
    resolved = rules.resolve(
        DENTAL, at("2026-01-05T10:00:00"), {"dental": nobody, "clinical": STAFFED}
    )
    assert isinstance(resolved, Placement)
    assert (resolved.queue, resolved.skills) == ("clinical", ("clinical",))


def problems(**queues: dict[str, Any]) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        rules_with(**queues)
    return caught.value.problems


def test_a_circle_of_destinations_is_refused() -> None:
    found = problems(
        dental={"overflow": [{"longer_than": 1, "to": {"queue": "clinical"}}]},
        clinical={"overflow": [{"longer_than": 1, "to": {"queue": "dental"}}]},
    )
    assert "queues.clinical: its closed or overflow destinations lead back to it" in found
    assert "queues.dental: its closed or overflow destinations lead back to it" in found


def test_hours_without_a_closed_destination_are_refused() -> None:
    hours = dict(DENTAL_HOURS)
    hours.pop("closed")
    assert problems(dental=hours) == [
        "queues.dental.closed: a queue with hours needs a place for callers when closed"
    ]


def test_the_emergency_queue_can_never_close_or_overflow() -> None:
    assert problems(emergency=DENTAL_HOURS) == [
        "queues.emergency: emergencies go here, so it may have no hours or overflow"
    ]


def test_bad_destinations_and_hours_are_refused_with_their_paths() -> None:
    found = problems(
        dental={
            "hours": {"timezone": "Mars/Olympus", "open": {"mon": ["20:00-08:00"]}},
            "closed": {"queue": "nowhere"},
            "overflow": [{"to": {"queue": "general", "number": "+441632960555"}}],
        }
    )
    assert any(
        p.startswith("queues.dental.hours.timezone: Value error, unknown time zone") for p in found
    )
    assert any(
        p.startswith("queues.dental.hours.open: Value error, mon: 20:00-08:00 ends before")
        for p in found
    )
    assert any(
        p.startswith("queues.dental.overflow.0.to: Value error, give exactly one") for p in found
    )
    no_condition = problems(dental={"overflow": [{"to": {"queue": "general"}}]})
    assert no_condition == [
        "queues.dental.overflow.0: Value error, give at least one condition: "
        "longer_than, wait_over_seconds, no_skilled_handler"
    ]
