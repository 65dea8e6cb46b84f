"""Activating a rule set from the console needs a supervisor signed in with a second factor, and
the audit record says whose session it was."""

from __future__ import annotations

import json
from typing import cast

import redis

from routing import keys
from routing.rulebook import canonical
from routing.rules import default_rules
from tests.console.test_activation import diverting, kept_before_the_number_policy
from tests.console.web.people import Person
from tests.console.web.test_rules_pages import dental_up


def activations(sync_redis: redis.Redis) -> list[dict[str, str]]:
    rows = cast(list[tuple[str, dict[str, str]]], sync_redis.xrange(keys.AUDIT))
    return [fields for _, fields in rows if fields["action"] == "rules.activate"]


def test_a_session_without_a_second_factor_cannot_activate(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    supervisor.post(
        "/console/rules/edit",
        {"document": dental_up(canonical(default_rules())), "action": "save"},
    )
    for key in sync_redis.scan_iter(match=keys.session("*")):  # a session of before (or without)
        sync_redis.hdel(key, "second_factor")
    refused = supervisor.post("/console/rules/versions/2/activate", {"reason": "winter plan"})
    assert refused.status_code == 401  # such a session gives no supervisor access at all
    assert "Please sign in again." in refused.text
    assert sync_redis.get(keys.RULES_ACTIVE) == "1"
    assert activations(sync_redis) == []


def test_a_supervisor_signed_in_with_a_second_factor_activates_and_the_audit_says_so(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    supervisor.post(
        "/console/rules/edit",
        {"document": dental_up(canonical(default_rules())), "action": "save"},
    )
    active = supervisor.post("/console/rules/versions/2/activate", {"reason": "winter plan"})
    assert "Version 2 is active." in active.text
    [entry] = activations(sync_redis)
    assert entry["actor"] == "sue"
    detail = json.loads(entry["detail"])
    assert (detail["via"], detail["account"], detail["token"]) == ("console", "sue", "")
    assert detail["second_factor"] is True


def test_a_version_kept_from_before_the_number_policy_is_not_activated_and_says_where(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    number = kept_before_the_number_policy(sync_redis, diverting())
    refused = supervisor.post(f"/console/rules/versions/{number}/activate", {"reason": "old"})
    assert (
        "Not activated: queues.general.overflow.0.to.number: not a UK number: international "
        "numbers are outside the number policy"
    ) in refused.text
    assert sync_redis.get(keys.RULES_ACTIVE) == "1"
    assert activations(sync_redis) == []
