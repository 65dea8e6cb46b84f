"""Rule sets: the placement table, and refusal of unsafe sets with the path of each problem."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from prompts.catalogue import Locale
from routing.models import CallFacts, Priority, Reason, Screen, Worse
from routing.overflow import QueueConditions, ToNumber
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
        "the rule set's skills are ['clinical', 'clinician', 'dental', 'mental_health', 'welsh']"
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


# Times in Europe/London: Wednesday 15 July 2026, summer time (UTC+1).
WEDNESDAY_NOON = 1_784_113_200.0  # 2026-07-15 12:00 BST
WEDNESDAY_NIGHT = WEDNESDAY_NOON + 11 * 3600  # 23:00 BST
DAYTIME = {"open": {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}


def with_daytime_medicines(extra_route: dict[str, Any] | None = None) -> dict[str, Any]:
    """Medicines calls go to the clinical queue in the day; at other times the next route."""
    doc = document()
    daytime = {"name": "medicines-daytime", "when": {"reason": ["medicines"], "during": DAYTIME}}
    doc["routes"].insert(6, daytime | {"queue": "clinical", "priority": 3})
    if extra_route is not None:
        doc["routes"].insert(0, extra_route)
    return doc


def test_a_route_can_depend_on_the_time_of_the_call() -> None:
    rules = parse_rules(with_daytime_medicines())
    day = rules.place(facts(reason=Reason.MEDICINES, at=WEDNESDAY_NOON))
    night = rules.place(facts(reason=Reason.MEDICINES, at=WEDNESDAY_NIGHT))
    unknown = rules.place(facts(reason=Reason.MEDICINES))
    assert (day.route, day.queue) == ("medicines-daytime", "clinical")
    assert (night.route, night.queue) == ("medicines", "general")
    assert unknown.route == "medicines"  # no time given: no timed route applies


def test_a_timed_route_is_checked_at_every_kind_of_moment() -> None:
    # Only on Saturdays does this route come before the emergency route: still refused.
    saturdays = {
        "name": "night-shift",
        "when": {"during": {"open": {"sat": ["00:00-24:00"]}}},
        "queue": "general",
        "priority": 2,
    }
    assert problems_of(with_daytime_medicines(saturdays)) == [
        "routes.0.priority: emergency callers must be priority 1"
    ]


def test_a_rule_set_relying_on_a_timed_catch_all_is_refused() -> None:
    doc = document()
    doc["routes"][-1]["when"] = {"during": DAYTIME}
    [problem] = problems_of(doc)
    assert "cases are routed nowhere" in problem


def test_a_dry_run_follows_closed_hours_and_overflow_and_says_which_rules_did() -> None:
    doc = document()
    doc["queues"]["dental"] = {
        "skills": ["dental"],
        "hours": DAYTIME,
        "closed": {"number": "+441632960123"},
        "overflow": [{"no_skilled_handler": True, "to": {"queue": "general"}}],
    }
    rules = parse_rules(doc)
    nobody = {"dental": QueueConditions(waiting=0, estimated_wait=None, skilled_on_duty=0)}
    open_now = rules.decide(facts(reason=Reason.DENTAL, at=WEDNESDAY_NOON), nobody)
    assert open_now.placed.queue == "dental"
    assert open_now.outcome == open_now.placed.model_copy(update={"queue": "general", "skills": ()})
    assert open_now.because == (
        "routes.5 (dental) matched",
        "queues.dental.overflow.0: dental overflowed, to queue general",
    )
    closed = rules.decide(facts(reason=Reason.DENTAL, at=WEDNESDAY_NIGHT), nobody)
    because = "queues.dental.closed: dental is closed"
    assert closed.outcome == ToNumber(number="+441632960123", because=because)
    assert closed.because[-1] == "queues.dental.closed: dental is closed, to +441632960123"
    emergency = rules.decide(facts(screen=Screen.YES, at=WEDNESDAY_NIGHT), nobody)
    assert emergency.because == ("routes.0 (emergency) matched",)  # never diverted


def test_a_stored_version_is_read_back_with_its_shape_checked_but_not_every_case() -> None:
    # Checked when it was created (perhaps under other limits), so not every case again.
    doc = document()
    doc["routes"] = doc["routes"][:-1]  # no catch-all: refused when new
    assert "cases are routed nowhere" in problems_of(doc)[0]
    assert parse_rules(yaml.safe_dump(doc), trusted=True).routes[-1].name == "medicines"
    doc["hold"]["music"] = "yes"
    with pytest.raises(RuleSetError) as refused:
        parse_rules(yaml.safe_dump(doc), trusted=True)
    assert refused.value.problems == ["hold.music: Extra inputs are not permitted"]


def test_a_date_that_is_not_one_is_refused_clearly() -> None:
    text = "queues:\n  general:\n    hours: {open: {}, holidays: [2026-02-30]}\n"
    assert problems_of(text) == ["document: a value cannot be read (day is out of range for month)"]


def test_the_onward_section_names_a_queue_of_the_set_that_needs_the_clinicians_skill() -> None:
    nowhere = document()
    nowhere["onward"]["clinician_queue"] = "clinicians"
    unskilled = document()
    unskilled["queues"]["clinician"]["skills"] = []
    half = document()
    half["onward"]["clinician_skill"] = None

    assert problems_of(nowhere) == [
        "onward.clinician_queue: 'clinicians' is not a queue of this rule set"
    ]
    assert problems_of(unskilled) == [
        "onward.clinician_skill: the queue 'clinician' must need 'clinician', or its callers "
        "could reach a handler who is not a clinician"
    ]
    assert problems_of(half) == [
        "onward: Value error, name both clinician_queue and clinician_skill, or neither"
    ]


def test_an_urgency_is_never_priority_1_and_immediate_is_always_there() -> None:
    first = document()
    first["onward"]["urgencies"]["immediate"]["priority"] = 1
    without = document()
    del without["onward"]["urgencies"]["immediate"]

    assert problems_of(first) == [
        "onward.urgencies.immediate.priority: Input should be greater than or equal to 2"
    ]
    assert problems_of(without) == ["onward: Value error, the urgencies must include 'immediate'"]


def test_a_caller_sent_to_a_clinician_stays_with_the_clinicians_under_other_rules() -> None:
    rules = default_rules()
    sent = rules.clinician_placement("within_hour")
    assert sent is not None
    renamed = document()
    renamed["onward"]["urgencies"] = {"immediate": {"priority": 2, "target_seconds": 900}}
    other = parse_rules(renamed)
    none = document()
    none["onward"] = {"clinician_queue": None, "clinician_skill": None}
    without = parse_rules(none)
    caller = facts(reason=Reason.MEDICAL)

    assert (sent.queue, sent.priority, sent.skills) == ("clinician", 3, ("clinician",))
    assert rules.replace(sent, caller) == sent
    assert other.replace(sent, caller).route == "onward:immediate"  # its urgency went: the top
    assert without.replace(sent, caller) == without.place(caller)  # no clinicians: by answers
    assert rules.replace(rules.place(caller), caller) == rules.place(caller)
