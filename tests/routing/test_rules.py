"""Rule sets: the placement table, and refusal of unsafe sets with the path of each problem."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from prompts.catalogue import Locale
from routing.models import CallFacts, Priority, Reason, Screen, Worse
from routing.rules import RuleSetError, default_rules, parse_rules

MAIN = "+441134960000"


def facts(**changes: Any) -> CallFacts:
    values: dict[str, Any] = {
        "locale": Locale.EN,
        "screen": Screen.NO,
        "reason": Reason.MEDICAL,
        "worse": None,
        "repeat": False,
        "line": MAIN,
    }
    return CallFacts(**(values | changes))


@pytest.mark.parametrize(
    ("changes", "route", "queue", "priority"),
    [
        ({"screen": Screen.YES, "reason": Reason.UNKNOWN}, "emergency", "emergency", 1),
        ({"screen": Screen.YES, "locale": Locale.CY}, "emergency", "emergency", 1),
        (
            {"screen": Screen.UNANSWERED, "reason": Reason.UNKNOWN},
            "no-answer-to-screen",
            "general",
            2,
        ),
        ({"locale": Locale.CY, "reason": Reason.DENTAL}, "welsh", "welsh", 3),
        ({"reason": Reason.MENTAL_HEALTH}, "mental-health", "mental_health", 3),
        ({"reason": Reason.EXISTING_CASE, "worse": Worse.NO}, "existing-case", "clinical", 3),
        ({"reason": Reason.EXISTING_CASE, "worse": Worse.YES}, "existing-case", "clinical", 2),
        ({"reason": Reason.DENTAL}, "dental", "dental", 4),
        ({"reason": Reason.DENTAL, "worse": Worse.YES}, "dental", "dental", 3),
        ({"reason": Reason.MEDICINES}, "medicines", "general", 4),
        ({"reason": Reason.MEDICAL}, "medical", "general", 3),
        ({"reason": Reason.UNKNOWN}, "medical", "general", 3),
    ],
)
def test_the_default_rules_place_each_kind_of_call(
    changes: dict[str, Any], route: str, queue: str, priority: int
) -> None:
    placement = default_rules().place(facts(**changes))
    assert (placement.route, placement.queue, placement.priority) == (route, queue, priority)


def test_worse_never_raises_a_caller_to_emergency() -> None:
    rules = default_rules()
    for case in ({"reason": Reason.MEDICAL}, {"screen": Screen.UNANSWERED}):
        placement = rules.place(facts(worse=Worse.YES, **case))
        assert placement.priority >= Priority.URGENT


def document(**changes: Any) -> dict[str, Any]:
    base = default_rules().model_dump(mode="json")
    base.update(changes)
    return dict(base)


def problems_of(doc: dict[str, Any] | str) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        parse_rules(doc)
    return caught.value.problems


def test_a_rule_set_without_a_catch_all_is_refused() -> None:
    doc = document()
    doc["routes"] = doc["routes"][:-1]
    [problem] = problems_of(doc)
    assert problem.startswith("routes: ")
    assert "cases are routed nowhere" in problem


def test_a_non_emergency_at_priority_1_is_refused_with_its_path() -> None:
    doc = document()
    doc["routes"][6]["priority"] = 1  # medicines, to the general queue
    assert problems_of(doc) == ["routes.6.priority: only emergency callers may be priority 1"]


def test_an_emergency_below_priority_1_is_refused() -> None:
    doc = document()
    doc["routes"][0]["priority"] = 2
    assert problems_of(doc) == ["routes.0.priority: emergency callers must be priority 1"]


def test_a_route_to_an_unknown_queue_is_refused() -> None:
    doc = document()
    doc["routes"][2]["queue"] = "nowhere"
    assert problems_of(doc) == ["routes.2.queue: 'nowhere' is not a queue of this rule set"]


def test_unknown_keys_are_refused_with_their_path() -> None:
    doc = document()
    doc["routes"][1]["when"]["colour"] = "red"
    doc["hold"]["music"] = "yes"
    problems = problems_of(doc)
    assert "routes.1.when.colour: Extra inputs are not permitted" in problems
    assert "hold.music: Extra inputs are not permitted" in problems


def test_aging_or_worse_can_never_reach_priority_1() -> None:
    doc = document()
    doc["worse"]["highest"] = 1
    assert problems_of(doc) == ["worse.highest: Input should be greater than or equal to 2"]


def test_a_queue_needing_a_skill_no_handler_can_have_is_refused() -> None:
    doc = document()
    doc["queues"]["dental"]["skills"] = ["dentistry"]
    assert problems_of(doc) == [
        "queues.dental.skills: no handler can have 'dentistry'; "
        "the rule set's skills are ['clinical', 'dental', 'mental_health', 'welsh']"
    ]


def test_every_problem_is_reported_at_once() -> None:
    doc = document()
    doc["routes"] = doc["routes"][:-1]
    doc["routes"][2]["priority"] = 1  # Welsh callers, to a queue that overflows
    doc["queues"]["dental"]["skills"] = ["dentistry"]
    problems = problems_of(doc)
    assert "routes.2.priority: only emergency callers may be priority 1" in problems
    assert "queues.welsh: emergencies go here, so it may have no hours or overflow" in problems
    assert any(p.startswith("queues.dental.skills: no handler can have") for p in problems)
    assert any("routed nowhere" in p for p in problems)
    assert len(problems) == 4


def test_yaml_text_is_accepted_and_garbage_is_refused_clearly() -> None:
    text = yaml.safe_dump(document())
    assert parse_rules(text) == default_rules()
    assert problems_of("queues: [unclosed")[0].startswith("document: not YAML or JSON")
    assert problems_of("just a string") == [
        "document: Input should be a valid dictionary or instance of RuleSet"
    ]
