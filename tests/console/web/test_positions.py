"""Each problem with a rule set is placed at its line in the document as the supervisor wrote it."""

from __future__ import annotations

import pytest

from console.web.positions import line_of, locate
from routing.rules import RuleSetError, parse_rules

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
