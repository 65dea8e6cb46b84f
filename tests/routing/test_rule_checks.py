"""Rule-set checks: each limit refused first with its path, a set at every limit checked in
bounded work, and the fast check of every case agreeing with trying every case at every moment."""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from prompts.catalogue import Locale
from routing.models import CallFacts, Priority, Reason, Screen, Worse
from routing.rule_checks import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NUMBERS,
    MAX_QUEUES,
    MAX_ROUTES,
    MAX_TIMED_ROUTES,
    MAX_VALUES,
    OTHER_LINE,
    case_problems,
)
from routing.rules import RuleSet, RuleSetError, parse_rules

DAYTIME = {"open": {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}
NUMBERS = [f"+44113496{index:04d}" for index in range(MAX_NUMBERS)]
REASONS = [reason.value for reason in Reason]


def at_the_limits() -> dict[str, Any]:
    """A rule set at every limit, and the worst case for the check: each number named by its own
    routes (a class of lines each), the first routes timed, and only the last taking everyone."""
    queues: dict[str, Any] = {f"q{index}": {} for index in range(MAX_QUEUES - 1)}
    queues["emergency"] = {}
    routes: list[dict[str, Any]] = [
        {
            "name": "emergency",
            "when": {"screen": ["emergency"]},
            "queue": "emergency",
            "priority": 1,
        }
    ]
    for index in range(MAX_ROUTES - 2):
        when: dict[str, Any] = {
            "screen": ["not_emergency"],
            "reason": [REASONS[index % len(REASONS)]],
            "line": [NUMBERS[index % MAX_NUMBERS]],
        }
        if index < MAX_TIMED_ROUTES:
            when["during"] = DAYTIME
        route = {"name": f"r{index}", "when": when, "queue": f"q{index % 40}", "priority": 3}
        routes.append(route)
    routes.append({"name": "everyone", "queue": "q0", "priority": 3})
    return {"queues": queues, "routes": routes}


def problems_of(document: dict[str, Any] | str) -> list[str]:
    with pytest.raises(RuleSetError) as refused:
        parse_rules(document)
    return refused.value.problems


def one_more_route(doc: dict[str, Any]) -> None:
    doc["routes"].insert(1, {"name": "extra", "queue": "q0", "priority": 9})  # and invalid


def one_more_queue(doc: dict[str, Any]) -> None:
    doc["queues"]["extra"] = {"skills": ["nobody_has_this"]}  # and invalid


def one_more_number(doc: dict[str, Any]) -> None:
    doc["routes"][101]["when"]["line"] = ["+441134969999"]  # r100 named NUMBERS[0]


def one_more_timed_route(doc: dict[str, Any]) -> None:
    doc["routes"][51]["when"]["during"] = DAYTIME  # r50, the first untimed one


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (one_more_route, "routes: 201 routes; a rule set may have at most 200"),
        (one_more_queue, "queues: 51 queues; a rule set may have at most 50"),
        (
            one_more_number,
            "routes.101.when.line: more than 100 numbers; the routes of a rule set may name "
            "at most 100 lines",
        ),
        (
            one_more_timed_route,
            "routes.51.when.during: more than 50 timed routes; a rule set may have at most 50",
        ),
    ],
)
def test_a_rule_set_over_a_limit_is_refused_with_the_limit_and_its_path_alone(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    doc = at_the_limits()
    change(doc)
    assert problems_of(doc) == [problem]
    assert problems_of(yaml.safe_dump(doc)) == [problem]


def test_a_document_over_64_kib_is_refused_before_it_is_read() -> None:
    text = yaml.safe_dump(at_the_limits())
    padded = text + "#" * (MAX_BYTES + 1 - len(text.encode()))
    assert len(padded.encode()) == 65_537
    assert problems_of(padded) == ["document: 64.0 KiB of text; a rule set may have at most 64 KiB"]
    welsh = "# " + "ŵ" * 40_000  # 40,002 letters, 80,002 bytes
    assert problems_of(welsh) == ["document: 78.1 KiB of text; a rule set may have at most 64 KiB"]


def test_nesting_too_deep_is_refused_without_the_parser_recursing() -> None:
    deep = 32_000  # enough to crash libyaml's composer, within 64 KiB
    too_deep = f"document: nested more than {MAX_DEPTH} deep"
    assert problems_of("[" * deep + "]" * deep) == [too_deep]
    assert problems_of("routes: " + "[" * 20 + "]" * 20) == [too_deep]  # 21 deep
    assert too_deep not in problems_of("routes: " + "[" * 19 + "]" * 19)


def test_aliases_are_counted_written_out() -> None:
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    too_many = f"document: more than {MAX_VALUES:,} values (keys included, aliases written out)"
    assert problems_of("\n".join(laughs))[0].startswith(too_many)  # 10^9 values in 400 bytes
    assert problems_of("a: &x [1, *x]") == ["document: the alias *x is inside its own anchor"]


def test_a_rule_set_at_every_limit_is_accepted() -> None:
    text = yaml.safe_dump(at_the_limits())
    assert "during: *id001" in text  # the hours are shared: aliases are fine within the limits
    rules = parse_rules(text)
    assert len(rules.routes) == MAX_ROUTES
    assert len(rules.queues) == MAX_QUEUES
    assert len({line for route in rules.routes for line in route.when.line or ()}) == MAX_NUMBERS
    assert sum(route.when.during is not None for route in rules.routes) == MAX_TIMED_ROUTES


def python_calls(work: Callable[[], object]) -> int:
    """How many Python functions `work` calls: a measure of its work that no machine's speed,
    and no other process on it, changes."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_a_rule_set_at_every_limit_is_checked_in_bounded_work() -> None:
    # Each route's conditions once per combination of answers (200 x 288), and a few thousand
    # calls more to validate its shape. The check this replaced made 7,000,000 calls for 30
    # timed routes and 30 numbers (8 s), and more than 45 s of them at these limits.
    doc = at_the_limits()
    assert python_calls(lambda: parse_rules(doc)) < 80_000


# Every case at every moment, by brute force: every combination of answers, on every line a
# route names and one none does, with every set of timed routes in time.
def brute_force(rules: RuleSet) -> tuple[set[str], set[CallFacts]]:
    timed = [route.name for route in rules.routes if route.when.during is not None]
    moments = [set(c) for n in range(len(timed) + 1) for c in itertools.combinations(timed, n)]
    lines = sorted({line for route in rules.routes for line in route.when.line or ()})
    problems: set[str] = set()
    unrouted: set[CallFacts] = set()
    for locale, screen, reason, worse, repeat, line in itertools.product(
        Locale, Screen, Reason, [None, *Worse], (False, True), [*lines, OTHER_LINE]
    ):
        facts = CallFacts(
            locale=locale, screen=screen, reason=reason, worse=worse, repeat=repeat, line=line
        )
        for moment in moments:
            index = next(
                (
                    index
                    for index, route in enumerate(rules.routes)
                    if route.when.matches(facts, in_time=route.name in moment)
                ),
                None,
            )
            if index is None:
                unrouted.add(facts)
            elif screen is Screen.YES and rules.routes[index].priority is not Priority.EMERGENCY:
                problems.add(f"routes.{index}.priority: emergency callers must be priority 1")
            elif screen is not Screen.YES and rules.routes[index].priority is Priority.EMERGENCY:
                problems.add(f"routes.{index}.priority: only emergency callers may be priority 1")
    return problems, unrouted


def some_of(values: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.none() | st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)


conditions = st.fixed_dictionaries(
    {
        "screen": some_of([screen.value for screen in Screen]),
        "reason": some_of(REASONS),
        "locale": some_of([locale.value for locale in Locale]),
        "worse": some_of([worse.value for worse in Worse]),
        "repeat": st.none() | st.booleans(),
        "line": some_of(NUMBERS[:3]),
        "during": st.none() | st.just(DAYTIME),
    }
)


@st.composite
def small_rule_sets(draw: st.DrawFn) -> RuleSet:
    whens = draw(st.lists(conditions, min_size=1, max_size=5))
    routes = [
        {
            "name": f"r{index}",
            "when": {key: value for key, value in when.items() if value is not None},
            "queue": "general",
            "priority": draw(st.sampled_from([1, 1, 2, 3])),
        }
        for index, when in enumerate(whens)
        if sum(when["during"] is not None for when in whens[: index + 1]) <= 3
    ]
    if draw(st.booleans()):
        routes.append({"name": "everyone", "queue": "general", "priority": 3})
    document = {"queues": {"general": {}}, "routes": routes}
    return parse_rules(document, trusted=True)  # the shape, without the check under test


@settings(max_examples=60, deadline=None)
@given(rules=small_rule_sets())
def test_the_check_of_every_case_finds_what_trying_every_moment_finds(rules: RuleSet) -> None:
    expected, unrouted = brute_force(rules)
    found = case_problems(rules)
    nowhere = [problem for problem in found if problem.startswith("routes: ")]
    assert set(found) - set(nowhere) == expected
    if not unrouted:
        assert nowhere == []
        return
    [problem] = nowhere
    matched = re.fullmatch(r"routes: (\d+) cases are routed nowhere, e\.g\. (\{.*\}); .*", problem)
    assert matched is not None
    assert int(matched[1]) == len(unrouted)
    assert CallFacts(**ast.literal_eval(matched[2])) in unrouted
