"""Activating a rule set strands nobody: every call and callback waiting, on offer or booked is
placed again under the new version in its place, or the activation is refused and says who would
be stranded; and the version and its audit record are written in one step."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
import redis
import redis.asyncio
import yaml
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing import keys
from routing.activation import Activated, apply, prepare
from routing.activation import activate as activate_version
from routing.audit import Audit
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.rulebook import RuleBook
from routing.rules import default_rules
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import dial_ends, redirected, sweep
from tests.ivr.test_hold_and_callbacks import take_callback
from tests.staff import Staff, set_state
from tests.twilio import Call, TwilioClient

DENTAL = {"dental": 3}


def without_dental() -> dict[str, Any]:
    """The packaged rules with the dental queue gone: dental callers go to `general`."""
    rules = default_rules().model_dump(mode="json")
    del rules["queues"]["dental"]
    for route in rules["routes"]:
        if route["queue"] == "dental":
            route["queue"] = "general"
    return rules


def activate(api: Api, rules: dict[str, Any], status: int = 200) -> Any:
    version = api.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=201)
    return api.send(
        "POST", f"/api/v1/rules/versions/{version['number']}/activate", {}, status=status
    )


@pytest.fixture
def api(twilio: TwilioClient, redis_url: str) -> Api:
    return Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))


def dental_caller(twilio: TwilioClient, number: str) -> Call:
    call = twilio.call(number, "+441134960000")
    to_queue(call, "2", "3")
    return call


def served(sync_redis: redis.Redis) -> set[str]:
    """The queues the active version defines."""
    number = sync_redis.get(keys.RULES_ACTIVE)
    document = sync_redis.hget(keys.rules_version(int(str(number))), "document")
    return set(yaml.safe_load(str(document))["queues"])


def stranded(sync_redis: redis.Redis) -> list[str]:
    """Queue entries in a queue the active rule set does not serve."""
    names = served(sync_redis)
    found = []
    for key in sync_redis.scan_iter(match=keys.queue("*")):
        name = str(key).removeprefix(keys.queue(""))
        if name not in names:
            found += [f"{name}:{member!s}" for member in sync_redis.zrange(key, 0, -1)]
    return found


def test_a_call_on_offer_when_its_queue_is_dropped_is_offered_again_from_the_new_one(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
    api: Api,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE, skills=DENTAL)
    call = dental_caller(twilio, "+447700900001")
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    arrival = float(sync_redis.hget(keys.call(call.sid), "arrival") or 0)

    activate(api, without_dental())
    dial_ends(twilio, call, redirected(twilio, call, "h1", 1), "no-answer")

    assert stranded(sync_redis) == []
    assert sync_redis.zscore(keys.queue("general"), call.sid) is not None
    assert float(sync_redis.hget(keys.call(call.sid), "arrival") or 0) == arrival
    clock.advance(3600)
    [offer] = sweep(redis_url, clock.now()).offers  # h1's missed-offer break is long over
    assert (offer.member, offer.handler) == (call.sid, "h1")


def test_callers_waiting_in_a_dropped_queue_move_to_the_new_one_in_their_place(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    api: Api,
) -> None:
    staff("h1", skills=DENTAL)  # busy: the callers wait in `dental`
    older = twilio.call("+447700900002", "+441134960000")
    to_queue(older, "2", "1")  # medical, general, priority 3
    clock.advance(10)
    first = dental_caller(twilio, "+447700900003")
    clock.advance(10)
    second = dental_caller(twilio, "+447700900004")
    assert sync_redis.zrange(keys.queue("dental"), 0, -1) == [first.sid, second.sid]

    result = activate(api, without_dental())

    assert result["reevaluated"] == 2
    assert stranded(sync_redis) == []
    # Priority 4 in `general` now, each at their own arrival: behind the priority-3 caller.
    assert sync_redis.zrange(keys.queue("general"), 0, -1) == [older.sid, first.sid, second.sid]
    assert sync_redis.hget(keys.call(first.sid), "queue") == "general"


def test_callbacks_booked_in_a_dropped_queue_move_with_their_place_whatever_their_state(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
    api: Api,
) -> None:
    staff("h1", skills=DENTAL)
    pending = dental_caller(twilio, "+447700900005")
    enqueue = pending.heard[-1]
    clock.advance(400)  # a long wait: a callback is offered
    pending.press(take_callback(pending, enqueue), "1")
    callback_id = str(sync_redis.hget(keys.call(pending.sid), "callback"))
    member = keys.callback_member(callback_id)
    score = sync_redis.zscore(keys.queue("dental"), member)
    assert score is not None

    activate(api, without_dental())

    assert stranded(sync_redis) == []
    assert sync_redis.zscore(keys.queue("general"), member) == score
    assert sync_redis.hget(keys.callback(callback_id), "queue") == "general"

    # Offered, not reached, retried later: it comes back into the queue the rules serve.
    set_state(redis_url, "h1", HandlerState.AVAILABLE, clock.now())
    [offer] = sweep(redis_url, clock.now()).offers
    assert offer.member == member


def test_a_callback_waiting_out_a_retry_in_a_dropped_queue_comes_back_to_the_new_one(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
    api: Api,
) -> None:
    staff("h1", skills=DENTAL)
    call = dental_caller(twilio, "+447700900006")
    clock.advance(400)
    call.press(take_callback(call, call.heard[-1]), "1")
    callback_id = str(sync_redis.hget(keys.call(call.sid), "callback"))
    member = keys.callback_member(callback_id)
    set_state(redis_url, "h1", HandlerState.AVAILABLE, clock.now())
    [offer] = sweep(redis_url, clock.now()).offers
    query = f"?cb={callback_id}&handler=h1&offer={offer.offer}&leg=handler"
    twilio.post(
        "/twilio/callback/result" + query,
        {"CallSid": "CA" + "e" * 32, "DialCallStatus": "no-answer", "CallStatus": "completed"},
    )
    assert sync_redis.hget(keys.callback(callback_id), "status") == "scheduled"

    activate(api, without_dental())
    clock.advance(3600)
    sweep(redis_url, clock.now())

    assert stranded(sync_redis) == []
    assert sync_redis.hget(keys.callback(callback_id), "queue") == "general"
    assert sync_redis.hget(keys.callback(callback_id), "status") in ("pending", "reserved")
    assert member not in sync_redis.zrange(keys.queue("dental"), 0, -1)


def test_a_call_placed_by_a_process_still_on_the_old_rules_is_placed_by_the_new_ones(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    api: Api,
    settings: Settings,
    clock: VirtualClock,
) -> None:
    """Every process follows a new version within 2 s; one that places a caller in between must
    not leave them in a queue nobody serves any more."""

    staff("h1", skills=DENTAL)
    with TestClient(create_app(settings, clock=clock)) as other_process:
        stale = TwilioClient(other_process, AUTH_TOKEN, PUBLIC_BASE_URL)
        warm = stale.call("+447700900007", "+441134960000")
        to_queue(warm, "2", "1")  # this process has read the rules: version 1, with `dental`
        activate(api, without_dental())
        late = stale.call("+447700900008", "+441134960000")
        to_queue(late, "2", "3")

    assert stranded(sync_redis) == []
    assert sync_redis.hget(keys.call(late.sid), "queue") == "general"


def test_activation_and_its_audit_record_are_one_step(
    sync_redis: redis.Redis, api: Api, twilio: TwilioClient
) -> None:
    before = sync_redis.get(keys.RULES_ACTIVE)
    version = api.send("POST", "/api/v1/rules/versions", {"rules": without_dental()}, status=201)
    sync_redis.delete(keys.AUDIT)
    sync_redis.set(keys.AUDIT, "not a stream")  # the audit cannot be written

    response = twilio.client.post(
        f"/api/v1/rules/versions/{version['number']}/activate", json={}, headers=api.headers
    )

    assert response.status_code >= 500 or response.status_code == 503
    assert sync_redis.get(keys.RULES_ACTIVE) == before


def test_a_callback_that_cannot_be_placed_again_refuses_the_activation_and_is_named(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    api: Api,
) -> None:
    """A callback booked before its caller's answers were kept with it (an older Lifeline)."""
    staff("h1", skills=DENTAL)
    call = dental_caller(twilio, "+447700900009")
    clock.advance(400)
    call.press(take_callback(call, call.heard[-1]), "1")
    callback_id = str(sync_redis.hget(keys.call(call.sid), "callback"))
    sync_redis.hdel(keys.callback(callback_id), "answers")
    before = sync_redis.get(keys.RULES_ACTIVE)

    refused = activate(api, without_dental(), status=409)

    assert refused["error"] == "activating this version would strand callers"
    [problem] = refused["problems"]
    assert f"callback {callback_id}" in problem
    assert "'dental'" in problem
    assert sync_redis.get(keys.RULES_ACTIVE) == before
    assert sync_redis.zscore(keys.queue("dental"), keys.callback_member(callback_id)) is not None


def renamed_dental() -> dict[str, Any]:
    rules = default_rules().model_dump(mode="json")
    rules["queues"]["teeth"] = rules["queues"].pop("dental")
    for route in rules["routes"]:
        if route["queue"] == "dental":
            route["queue"] = "teeth"
    return rules


def one_queue() -> dict[str, Any]:
    rules = default_rules().model_dump(mode="json")
    for name in ("clinical", "mental_health", "dental", "welsh"):
        del rules["queues"][name]
    for route in rules["routes"]:
        if route["queue"] != "emergency":
            route["queue"] = "general"
    return rules


def test_an_activation_planned_before_another_lands_plans_again_from_it(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    api: Api,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    """B prepares version 3 (one queue) against version 1; A activates version 2 (dental
    renamed `teeth`) and a dental caller joins `teeth`; then B's step runs."""
    staff("h1", skills=DENTAL)
    teeth = api.send("POST", "/api/v1/rules/versions", {"rules": renamed_dental()}, status=201)
    single = api.send("POST", "/api/v1/rules/versions", {"rules": one_queue()}, status=201)

    async def race() -> tuple[Activated | None, Activated]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            book = RuleBook(client, Audit(client))
            planned_b = await prepare(client, book, single["number"], "b", clock.now())
            await activate_version(client, book, teeth["number"], "a", clock.now())
            to_queue(twilio.call("+447700900010", "+441134960000"), "2", "3")
            late = await apply(client, planned_b)
            again = await activate_version(client, book, single["number"], "b", clock.now())
            return late, again
        finally:
            await client.aclose()

    late, again = asyncio.run(race())

    assert late is None  # planned against version 1, which is no longer the active one
    assert again.number == single["number"]
    assert stranded(sync_redis) == []
    [(_, entry)] = cast(list[tuple[str, dict[str, str]]], sync_redis.xrevrange(keys.AUDIT, count=1))
    assert (entry["target"], json.loads(entry["detail"])["previous"]) == (
        f"version {single['number']}",
        teeth["number"],
    )


def kept_before_the_number_policy(sync_redis: redis.Redis, rules: dict[str, Any]) -> int:
    """A rule set version as a version of Lifeline before the number policy kept it: written
    straight into Redis, never checked against the policy (stored versions are trusted)."""
    number = int(sync_redis.incr(keys.RULES_NEXT))
    sync_redis.hset(
        keys.rules_version(number),
        mapping={
            "document": yaml.safe_dump(rules, sort_keys=False),
            "parsed": json.dumps(rules),
            "author": "someone",
            "created": "0.0",
            "comment": "kept before the number policy",
        },
    )
    sync_redis.zadd(keys.RULES_VERSIONS, {str(number): 0.0})
    return number


def diverting() -> dict[str, Any]:
    """The packaged rules, overflowing `general` to an international number at once."""
    rules = default_rules().model_dump(mode="json")
    rules["queues"]["general"]["overflow"] = [
        {"wait_over_seconds": 0, "to": {"number": "+882345678901"}}
    ]
    return rules


def test_a_version_kept_from_before_the_number_policy_is_refused_at_activation_with_its_path(
    api: Api, sync_redis: redis.Redis
) -> None:
    number = kept_before_the_number_policy(sync_redis, diverting())
    refused = api.send("POST", f"/api/v1/rules/versions/{number}/activate", {}, status=422)
    assert refused == {
        "error": "the rule set is invalid",
        "problems": [
            "queues.general.overflow.0.to.number: not a UK number: international numbers are "
            "outside the number policy"
        ],
    }
    assert sync_redis.get(keys.RULES_ACTIVE) == "1"
    audit = cast(list[tuple[str, dict[str, str]]], sync_redis.xrange(keys.AUDIT))
    assert [fields for _, fields in audit if fields["action"] == "rules.activate"] == []
