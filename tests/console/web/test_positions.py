"""Each problem with a rule set is placed at its line in the document as the supervisor wrote it."""

from __future__ import annotations

import pytest

from console.web.positions import Located, line_of, locate
from routing.rule_checks import MAX_ROUTES
from routing.rules import RuleSetError, parse_rules
from tests.routing.test_rule_checks import python_calls

DOCUMENT = """\
# comments and blank lines count as lines

skills: [clinical]
queues:
  general: {}
  clinical:
    skills: [clinical, dentistry]
routes:
  - name: emergency
    when: {screen: [emergency]}
    queue: general
    priority: 2
  - name: everyone
    queue: nowhere
    priority: 3
callbacks:
  targets_seconds: {2: 600}
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("routes.0.priority", 12),
        ("routes.1.queue", 14),
        ("routes.1", 13),
        ("queues.clinical.skills", 7),
        ("queues.clinical.skills.1", 7),
        ("callbacks.targets_seconds.2", 17),
        ("routes.1.when", 13),  # not written: its route's line
        ("routes.7.priority", 8),  # no such route: the list's line
        ("emergency", 3),  # nothing like it: where the document begins
    ],
)
def test_a_path_is_found_at_its_line(path: str, line: int) -> None:
    assert line_of(DOCUMENT, path) == line


def test_every_problem_of_a_real_validation_is_placed() -> None:
    with pytest.raises(RuleSetError) as refused:
        parse_rules(DOCUMENT)
    located = {(item.line, item.path) for item in locate(DOCUMENT, refused.value.problems)}
    assert (12, "routes.0.priority") in located
    assert (14, "routes.1.queue") in located
    assert (7, "queues.clinical.skills") in located


def test_a_field_out_of_range_is_placed_at_its_line() -> None:
    wrong = DOCUMENT.replace("{2: 600}", "{2: 10}")
    with pytest.raises(RuleSetError) as refused:
        parse_rules(wrong)
    [problem] = locate(wrong, refused.value.problems)
    assert (problem.line, problem.path) == (17, "callbacks.targets_seconds.2")
    assert "greater than or equal to 60" in problem.message


def test_a_syntax_error_is_placed_where_the_parser_stopped() -> None:
    broken = DOCUMENT.replace("    queue: general\n", "    queue: [general\n")
    with pytest.raises(RuleSetError) as refused:
        parse_rules(broken)
    [problem] = locate(broken, refused.value.problems)
    assert problem.path == "document"
    assert problem.line is not None
    assert 11 <= problem.line <= 13


def test_problems_without_a_path_have_no_line() -> None:
    [problem] = locate(DOCUMENT, ["something went wrong somewhere"])
    assert problem.line is None
    assert problem.message == "something went wrong somewhere"


def test_each_of_many_problems_is_placed_at_its_line_from_one_reading() -> None:
    lines, expected = ["queues:", "  general: {}", "routes:"], {}
    for index in range(MAX_ROUTES):
        lines += [f"  - name: r{index}", "    queue: general"]
        if index % 2:
            lines.append("    priority: 9")
            expected[f"routes.{index}.priority"] = len(lines)
        else:
            lines += ["    priority: 3", "    colour: red"]
            expected[f"routes.{index}.colour"] = len(lines)
    document = "\n".join(lines) + "\n"
    with pytest.raises(RuleSetError) as refused:
        parse_rules(document)
    problems = refused.value.problems
    assert len(problems) == MAX_ROUTES
    located: list[Located] = []
    calls = python_calls(lambda: located.extend(locate(document, problems)))
    assert {item.path: item.line for item in located} == expected
    # One reading for all: reading the document again for each problem made 36,000,000 calls.
    assert calls < 30_000


def test_a_document_nested_too_deep_to_compose_is_still_located() -> None:
    deep = "[" * 32_000 + "]" * 32_000
    with pytest.raises(RuleSetError) as refused:
        parse_rules(deep)
    [problem] = locate(deep, refused.value.problems)
    assert (problem.path, problem.line) == ("document", None)


@pytest.mark.parametrize(
    ("document", "line"),
    [
        ("skills: []\nqueues: *nowhere\n", 2),  # an alias to no anchor
        ("skills: &a []\nqueues: &a {}\nroutes: []\n", 2),  # an anchor twice
        ("skills: []\n---\nqueues: {}\n", 2),  # two documents
    ],
)
def test_what_stops_the_loader_is_placed_where_it_stopped(document: str, line: int) -> None:
    with pytest.raises(RuleSetError) as refused:
        parse_rules(document)
    [problem] = locate(document, refused.value.problems)
    assert (problem.path, problem.line) == ("document", line)


def test_paths_around_an_alias_are_placed_at_their_lines() -> None:
    shared = DOCUMENT.replace(
        "    when: {screen: [emergency]}", "    when: &urgent {screen: [emergency]}"
    ).replace("  - name: everyone\n", "  - name: everyone\n    when: *urgent\n")
    assert line_of(shared, "routes.1.when.screen") == 14  # at the alias
    assert line_of(shared, "routes.1.queue") == 15
    assert line_of(shared, "callbacks.targets_seconds.2") == 18
