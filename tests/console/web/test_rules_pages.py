"""Rules in the supervisor console: problems at their lines, the diff, saving with the author,
activation and roll-back (audited, and calls waiting placed again), and dry runs."""

from __future__ import annotations

import re

import redis
import yaml

from routing import keys
from routing.rulebook import canonical
from routing.rules import default_rules
from tests.console.web.people import Person
from tests.routing.test_rule_checks import at_the_limits, one_more_timed_route


def dental_up(document: str) -> str:
    """The dental route from priority 4 to 3."""
    changed = re.sub(r"(- name: dental\n(?:  .*\n)*?  priority: )4", r"\g<1>3", document)
    assert changed != document
    return changed


def test_a_mistake_is_shown_at_its_line_and_nothing_is_saved(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    document = canonical(default_rules())
    wrong = document.replace("priority: 1", "priority: 2", 1)
    line = wrong.splitlines().index("  priority: 2") + 1
    page = supervisor.post("/console/rules/edit", {"document": wrong, "action": "save"})
    assert page.status_code == 422
    assert f'href="#line-{line}" data-line="{line}">Line {line}</a>' in page.text
    assert "emergency callers must be priority 1" in page.text
    assert f'<li id="line-{line}" value="{line}" class="line-problem">' in page.text
    assert wrong in page.text.replace("&#39;", "'")  # what was typed is kept for fixing
    assert sync_redis.zcard(keys.RULES_VERSIONS) == 1  # only the packaged default


def test_a_valid_edit_shows_its_diff_then_saves_as_a_version_by_its_author(
    supervisor: Person,
) -> None:
    edited = dental_up(canonical(default_rules()))
    checked = supervisor.post("/console/rules/edit", {"document": edited, "action": "check"})
    assert checked.status_code == 200
    assert "No problems found." in checked.text
    assert '<span class="diff-remove">-  priority: 4</span>' in checked.text
    assert '<span class="diff-add">+  priority: 3</span>' in checked.text
    saved = supervisor.post(
        "/console/rules/edit", {"document": edited, "action": "save", "comment": "dental up"}
    )
    assert saved.url.path == "/console/rules/versions/2"
    assert "Version 2 saved." in saved.text
    overview = supervisor.get("/console/rules")
    assert re.search(r"Version 2</a></th>\s*<td>sue</td>", overview.text)


def test_activating_and_rolling_back_are_audited_with_the_reason(supervisor: Person) -> None:
    edited = dental_up(canonical(default_rules()))
    supervisor.post("/console/rules/edit", {"document": edited, "action": "save"})
    active = supervisor.post("/console/rules/versions/2/activate", {"reason": "winter plan"})
    assert "Version 2 is active. 0 waiting calls placed again." in active.text
    assert "Active: version 2" in active.text
    assert "Roll back to version 1" in active.text
    again = supervisor.post("/console/rules/versions/2/activate", {"reason": "twice"})
    assert "Version 2 is already active." in again.text
    back = supervisor.post("/console/rules/versions/1/activate", {"reason": "roll back"})
    assert "Active: version 1" in back.text
    audit = supervisor.get("/console/audit?action=rules.activate").text
    assert audit.count("<code>rules.activate</code>") == 2
    assert "reason: winter plan" in audit
    assert "reason: roll back" in audit


def test_a_version_that_does_not_exist_is_a_404(supervisor: Person) -> None:
    assert supervisor.get("/console/rules/versions/99").status_code == 404
    refused = supervisor.post("/console/rules/versions/99/activate", {"reason": "x" * 600})
    assert refused.status_code == 404
    assert "Not activated" not in supervisor.get("/console/rules").text  # no notice left over


def test_a_dry_run_places_a_call_without_placing_one(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    page = supervisor.get("/console/rules/dry-run?screen=emergency&reason=medical")
    assert page.status_code == 200
    result = page.text.split('id="dry-run-result"')[1]
    assert "<dt>Queue</dt><dd>emergency</dd>" in result
    assert "<dt>Priority</dt><dd>1</dd>" in result
    welsh = supervisor.get("/console/rules/dry-run?locale=cy-GB&screen=not_emergency&version=1")
    assert "<dt>Queue</dt><dd>welsh</dd>" in welsh.text
    # nobody who speaks Welsh is on duty: the queue's overflow sends the caller on, and says so
    assert '<dd id="dry-run-destination">queue general</dd>' in welsh.text
    assert "<code>routes.2 (welsh) matched</code>" in welsh.text
    assert "<code>queues.welsh.overflow.0: welsh overflowed, to queue general</code>" in welsh.text
    timed = supervisor.get("/console/rules/dry-run?reason=medical&at=2026-07-15T23%3A00")
    assert timed.status_code == 200
    assert 'value="2026-07-15T23:00"' in timed.text
    assert not sync_redis.keys(keys.call("*"))


def test_a_bad_dry_run_says_which_field(supervisor: Person) -> None:
    page = supervisor.get("/console/rules/dry-run?line=not-a-number&screen=maybe&at=soon")
    assert page.status_code == 422
    assert 'id="line-error"' in page.text
    assert 'id="screen-error"' in page.text
    assert 'id="at-error"' in page.text


def test_a_rule_set_over_a_limit_is_refused_at_the_line_that_crosses_it(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    rules = at_the_limits()
    one_more_timed_route(rules)
    document = yaml.safe_dump(rules, sort_keys=False)
    lines = document.splitlines()
    route = lines.index("- name: r50")
    line = next(n for n in range(route, len(lines)) if lines[n].startswith("    during:")) + 1
    page = supervisor.post("/console/rules/edit", {"document": document, "action": "save"})
    assert page.status_code == 422
    assert "more than 50 timed routes; a rule set may have at most 50" in page.text
    assert f'href="#line-{line}" data-line="{line}">Line {line}</a>' in page.text
    assert sync_redis.zcard(keys.RULES_VERSIONS) == 1
