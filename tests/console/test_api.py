"""The JSON API: tokens and roles, rules (versions, validation, activation, dry run), handlers,
queues and statistics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import yaml
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role, Scope, Tokens
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.rules import default_rules
from tests.conftest import AUTH_TOKEN, CALLER, MAIN_LINE, PUBLIC_BASE_URL
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import sweep
from tests.staff import Staff
from tests.twilio import TwilioClient

RULES = frozenset({Scope.RULES})  # activating rule sets needs a token made with this scope


def token_for(
    redis_url: str, role: Role, handler: str = "", scopes: frozenset[Scope] = frozenset()
) -> str:
    async def create() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            made = await Tokens(client).create(
                f"test {role}", role, time.time(), handler, scopes=scopes
            )
            return made[1]
        finally:
            await client.aclose()

    return asyncio.run(create())


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: object, status: int = 200) -> Any:
        response = self.client.request(method, path, json=body, headers=self.headers)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def supervisor(client: TestClient, redis_url: str) -> Api:
    return Api(client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))


def new_handler(handler_id: str, skills: dict[str, int] | None = None) -> dict[str, object]:
    return {
        "id": handler_id,
        "name": handler_id.title(),
        "skills": skills or {},
        "device": {"kind": "client", "address": handler_id},
    }


def test_no_token_gets_401_and_a_wrong_role_403(client: TestClient, redis_url: str) -> None:
    assert client.get("/api/v1/queues").status_code == 401
    bad = client.get("/api/v1/queues", headers={"Authorization": "Bearer llt_nonsense"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    handler = Api(client, token_for(redis_url, Role.HANDLER, "h1"))
    response = client.get("/api/v1/queues", headers=handler.headers)
    assert response.status_code == 403
    assert "may not" in response.json()["error"]


def test_a_revoked_token_stops_working(client: TestClient, redis_url: str) -> None:
    async def make_and_revoke() -> str:
        redis_client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            tokens = Tokens(redis_client)
            token_id, secret = await tokens.create("temp", Role.SUPERVISOR, time.time())
            assert await tokens.revoke(token_id)
            return secret
        finally:
            await redis_client.aclose()

    secret = asyncio.run(make_and_revoke())
    assert (
        client.get("/api/v1/queues", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )


def test_tokens_are_stored_only_as_digests(supervisor: Api, sync_redis: redis.Redis) -> None:
    secret = supervisor.headers["Authorization"].removeprefix("Bearer ")
    assert not any(secret in str(key) for key in sync_redis.keys("*"))
    for key in sync_redis.keys(keys.token("*")):
        assert secret not in str(sync_redis.get(key))


def test_the_active_rule_set_is_version_1_the_default(supervisor: Api) -> None:
    active = supervisor.get("/api/v1/rules")
    assert isinstance(active, dict)
    assert (active["number"], active["author"], active["active"]) == (1, "lifeline", True)
    assert yaml.safe_load(active["document"]) == default_rules().model_dump(mode="json")


def test_an_invalid_rule_set_is_refused_with_every_problem_and_its_path(supervisor: Api) -> None:
    rules = default_rules().model_dump(mode="json")
    rules["routes"] = rules["routes"][:-1]
    rules["routes"][2]["priority"] = 1
    rules["queues"]["dental"]["skills"] = ["dentistry"]
    result = supervisor.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=422)
    assert isinstance(result, dict)
    problems = result["problems"]
    assert "routes.2.priority: only emergency callers may be priority 1" in problems
    assert any(
        p.startswith("queues.dental.skills: no handler can have 'dentistry'") for p in problems
    )
    assert any("routed nowhere" in p for p in problems)
    assert [v["number"] for v in supervisor.get("/api/v1/rules/versions")] == [1]


def test_a_rule_set_diverting_callers_outside_the_number_policy_is_refused(
    supervisor: Api,
) -> None:
    rules = default_rules().model_dump(mode="json")
    rules["queues"]["general"]["overflow"] = [
        {"wait_over_seconds": 0, "to": {"number": "+882345678901"}}
    ]
    rules["queues"]["dental"]["hours"] = {"open": {"mon": ["08:00-18:00"]}}
    rules["queues"]["dental"]["closed"] = {"number": "+449098790000"}
    result = supervisor.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=422)
    assert isinstance(result, dict)
    assert result["problems"] == [
        "queues.dental.closed.number: a 090 number, outside the number policy (UK geographic 01 "
        "and 02, 03, freephone 080 and mobile 07 numbers only)",
        "queues.general.overflow.0.to.number: not a UK number: international numbers are "
        "outside the number policy",
    ]
    assert [v["number"] for v in supervisor.get("/api/v1/rules/versions")] == [1]


def test_a_handlers_device_outside_the_number_policy_is_refused_and_a_change_audited(
    supervisor: Api,
) -> None:
    divert = new_handler("h1") | {"device": {"kind": "number", "address": "+882345678901"}}
    refused = supervisor.send("POST", "/api/v1/handlers", divert, 422)
    assert refused["problems"] == [
        "device.address: not a UK number: international numbers are outside the number policy"
    ]
    supervisor.send("POST", "/api/v1/handlers", new_handler("h1"), 201)
    assert (
        supervisor.send("PUT", "/api/v1/handlers/h1", divert, 422)["problems"]
        == refused["problems"]
    )
    mobile = new_handler("h1") | {"device": {"kind": "number", "address": "+447700900456"}}
    supervisor.send("PUT", "/api/v1/handlers/h1", mobile)
    entry = supervisor.get("/api/v1/audit")[0]
    assert entry["action"] == "handler.update"
    assert entry["detail"]["device"] == {
        "before": {"kind": "client", "address": "h1"},
        "after": {"kind": "number", "address": "+447700900456"},
    }


def test_garbage_bodies_get_clear_errors(supervisor: Api, client: TestClient) -> None:
    response = client.post(
        "/api/v1/rules/versions", content=b"{not json", headers=supervisor.headers
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]
    result = supervisor.send("POST", "/api/v1/rules/versions", {"document": "x", "rules": {}}, 422)
    assert result == {
        "error": "the body is invalid",
        "problems": ["body: Value error, give exactly one of `document` and `rules`"],
    }
    yaml_garbage = supervisor.send("POST", "/api/v1/rules/versions", {"document": "a: [b"}, 422)
    assert isinstance(yaml_garbage, dict)
    assert yaml_garbage["problems"][0].startswith("document: not YAML or JSON")


def test_json_nested_past_any_sense_is_a_clear_400(supervisor: Api, client: TestClient) -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000):
        response = client.post("/api/v1/rules/versions", content=body, headers=supervisor.headers)
        assert response.status_code == 400
        assert response.json()["error"] == "the body is not JSON: it is nested too deeply"


def test_a_new_version_is_activated_waiting_calls_move_and_it_is_audited(
    supervisor: Api, client: TestClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("pharmacist", skills={"clinical": 3})  # on duty (busy): the clinical queue is staffed
    twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "4")  # medicines: general, priority 4
    arrival = sync_redis.hget(keys.call(call.sid), "arrival")

    text = str(supervisor.get("/api/v1/rules")["document"])
    rules = yaml.safe_load(text)
    medicines = next(route for route in rules["routes"] if route["name"] == "medicines")
    medicines.update(queue="clinical", priority=3)
    document = yaml.safe_dump(rules)
    created = supervisor.send(
        "POST", "/api/v1/rules/versions", {"document": document, "comment": "pharmacists"}, 201
    )
    assert created["number"] == 2

    result = supervisor.send("POST", "/api/v1/rules/versions/2/activate", {"reason": "test"})
    assert isinstance(result, dict)
    assert result["reevaluated"] == 1
    assert "-  queue: general" in result["diff"]
    assert "+  queue: clinical" in result["diff"]
    assert sync_redis.zrange(keys.queue("clinical"), 0, -1) == [call.sid]
    assert sync_redis.hget(keys.call(call.sid), "arrival") == arrival

    audit = supervisor.get("/api/v1/audit?action=rules.activate")
    assert isinstance(audit, list)
    assert audit[0]["actor"] == "test supervisor"
    assert audit[0]["detail"]["previous"] == 1

    rollback = supervisor.send("POST", "/api/v1/rules/versions/1/activate", {})
    assert rollback["reevaluated"] == 1
    assert sync_redis.zrange(keys.queue("general"), 0, -1) == [call.sid]


def test_waiting_calls_are_re_placed_as_a_new_caller_would_be_hours_and_overflow_included(
    supervisor: Api, client: TestClient, sync_redis: redis.Redis
) -> None:
    twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "4")  # medicines: general, priority 4
    rules = yaml.safe_load(str(supervisor.get("/api/v1/rules")["document"]))
    medicines = next(route for route in rules["routes"] if route["name"] == "medicines")
    medicines.update(queue="clinical", priority=3)  # nobody clinical on duty: it overflows
    rules["queues"]["general"] = {"hours": {"open": {"sat": ["09:00-12:00"]}}}
    rules["queues"]["general"]["closed"] = {"queue": "out_of_hours"}
    rules["queues"]["out_of_hours"] = {}
    created = supervisor.send(
        "POST", "/api/v1/rules/versions", {"document": yaml.safe_dump(rules)}, 201
    )
    supervisor.send("POST", f"/api/v1/rules/versions/{created['number']}/activate", {})
    # clinical -> general by overflow -> out_of_hours, general being closed (on a Thursday)
    assert sync_redis.zrange(keys.queue("out_of_hours"), 0, -1) == [call.sid]
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["queue"], record["priority"]) == ("out_of_hours", "3")


def test_a_moved_call_counts_where_it_was_offered_so_each_queues_figures_add_up(
    supervisor: Api, client: TestClient, staff: Staff, clock: VirtualClock
) -> None:
    staff("pharmacist", skills={"clinical": 3})
    twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "4")  # medicines: general, priority 4
    rules = yaml.safe_load(str(supervisor.get("/api/v1/rules")["document"]))
    medicines = next(route for route in rules["routes"] if route["name"] == "medicines")
    medicines.update(queue="clinical", priority=3)
    created = supervisor.send(
        "POST", "/api/v1/rules/versions", {"document": yaml.safe_dump(rules)}, 201
    )
    supervisor.send("POST", f"/api/v1/rules/versions/{created['number']}/activate", {})
    clock.advance(40)
    call.status("completed")  # hung up while waiting, in the clinical queue now

    stats = supervisor.get("/api/v1/stats?window=1h")
    assert isinstance(stats, dict)
    [row] = stats["figures"]
    assert (row["queue"], row["priority"]) == ("general", 4)
    assert (row["offered"], row["abandoned"], row["abandoned_after_30s"]) == (1, 1, 1)


def test_a_dry_run_says_which_rule_decides_for_any_version(supervisor: Api) -> None:
    result = supervisor.send(
        "POST", "/api/v1/rules/dry-run", {"reason": "dental", "worse": "worse"}
    )
    assert result == {
        "version": 1,
        "at": "2026-01-01T00:00:00Z",  # now, by default
        "route": "dental",
        "queue": "dental",
        "priority": 3,
        "skills": ["dental"],
        # nobody with the dental skill is on duty now: the queue's overflow applies
        "destination": {"queue": "general", "number": None},
        "because": [
            "routes.5 (dental) matched",
            "queues.dental.overflow.0: dental overflowed, to queue general",
        ],
    }
    later = supervisor.send(
        "POST", "/api/v1/rules/dry-run", {"reason": "medical", "at": "2026-07-15T12:00:00+01:00"}
    )
    assert (later["at"], later["destination"]) == (
        "2026-07-15T12:00:00+01:00",
        {"queue": "general", "number": None},
    )
    naive = supervisor.send("POST", "/api/v1/rules/dry-run", {"at": "2026-07-15T12:00:00"}, 422)
    assert naive["problems"] == ["at: Input should have timezone info"]
    missing = supervisor.send("POST", "/api/v1/rules/dry-run", {"version": 99}, 404)
    assert missing == {"error": "there is no rule set version 99"}


def test_handlers_are_created_and_change_state_and_heartbeat(
    supervisor: Api, client: TestClient, redis_url: str
) -> None:
    created = supervisor.send("POST", "/api/v1/handlers", new_handler("h1", {"dental": 3}), 201)
    assert created["state"] == "offline"
    supervisor.send("POST", "/api/v1/handlers", new_handler("h1"), 409)
    unknown_skill = supervisor.send(
        "POST", "/api/v1/handlers", new_handler("h2", {"juggling": 1}), 422
    )
    assert unknown_skill["problems"] == ["skills.juggling: not a skill of the rule set"]

    own = Api(client, token_for(redis_url, Role.HANDLER, "h1"))
    assert (
        own.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})["state"] == "available"
    )
    assert own.send("POST", "/api/v1/handlers/h1/heartbeat", {})["handler"] == "h1"
    refused = own.send("PUT", "/api/v1/handlers/h1/state", {"state": "busy"}, 409)
    assert refused == {"error": "a handler who is available cannot choose to be busy"}

    supervisor.send("POST", "/api/v1/handlers", new_handler("h3"), 201)
    other = client.put(
        "/api/v1/handlers/h3/state", json={"state": "available"}, headers=own.headers
    )
    assert other.status_code == 403
    assert supervisor.send("PUT", "/api/v1/handlers/nobody/state", {"state": "available"}, 404)


def test_a_handlers_state_changes_are_kept_with_the_time_spent_in_each(
    supervisor: Api, client: TestClient, clock: VirtualClock, redis_url: str
) -> None:
    supervisor.send("POST", "/api/v1/handlers", new_handler("h1"), 201)
    own = Api(client, token_for(redis_url, Role.HANDLER, "h1"))
    for seconds, state, reason in ((100, "available", ""), (600, "break", "meal break")):
        clock.advance(seconds)
        own.send("PUT", "/api/v1/handlers/h1/state", {"state": state, "reason": reason})
    clock.advance(300)
    own.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    clock.advance(200)

    history = own.get("/api/v1/handlers/h1/history?window=today")
    assert isinstance(history, dict)
    assert [(c["from_state"], c["to"], c["reason"]) for c in history["changes"]] == [
        ("offline", "available", ""),
        ("available", "break", "meal break"),
        ("break", "available", ""),
    ]
    assert history["seconds_in_state"] == {
        "offline": 100.0,
        "available": 800.0,
        "reserved": 0.0,
        "busy": 0.0,
        "wrap_up": 0.0,
        "break": 300.0,
    }
    last_15 = supervisor.get("/api/v1/handlers/h1/history?window=15m")
    assert isinstance(last_15, dict)
    assert last_15["seconds_in_state"]["break"] == 300.0
    assert last_15["seconds_in_state"]["available"] == 600.0
    supervisor.send("POST", "/api/v1/handlers", new_handler("h2"), 201)
    assert client.get("/api/v1/handlers/h2/history", headers=own.headers).status_code == 403


def test_a_handler_made_available_who_never_sends_a_heartbeat_goes_offline(
    supervisor: Api, clock: VirtualClock, redis_url: str, sync_redis: redis.Redis
) -> None:
    supervisor.send("POST", "/api/v1/handlers", new_handler("h1"), 201)
    supervisor.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    clock.advance(29)
    assert sweep(redis_url, clock.now()).handlers_gone == []
    clock.advance(2)  # past the rule set's 30 s without a word from their console
    assert sweep(redis_url, clock.now()).handlers_gone == ["h1"]
    assert sync_redis.hget(keys.handler("h1"), "state") == "offline"


def test_a_handler_going_available_is_offered_the_waiting_call(
    supervisor: Api, client: TestClient, sync_redis: redis.Redis
) -> None:
    twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    supervisor.send("POST", "/api/v1/handlers", new_handler("h1"), 201)
    supervisor.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    assert sync_redis.hget(keys.handler("h1"), "call") == call.sid


def test_the_queue_snapshot_and_statistics(
    supervisor: Api, client: TestClient, clock: VirtualClock, staff: Staff
) -> None:
    staff("d1", skills={"dental": 2})  # busy
    staff("d2", skills={"dental": 1}, state=HandlerState.WRAP_UP)
    staff("g1", state=HandlerState.BREAK)
    twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
    waiting = twilio.call(CALLER, MAIN_LINE)
    to_queue(waiting, "2", "1")
    gone = twilio.call("+447700900001", MAIN_LINE)
    to_queue(gone, "2", "1")
    clock.advance(45)
    gone.status("completed")

    snapshot = supervisor.get("/api/v1/queues")
    assert isinstance(snapshot, dict)
    general = next(q for q in snapshot["queues"] if q["queue"] == "general")
    assert (general["waiting"], general["longest_wait"]) == (1, 45.0)
    assert snapshot["handlers"] == {
        "offline": 0,
        "available": 0,
        "reserved": 0,
        "busy": 1,
        "wrap_up": 1,
        "break": 1,
    }
    dental = next(q for q in snapshot["queues"] if q["queue"] == "dental")
    assert (dental["handlers"]["busy"], dental["handlers"]["wrap_up"]) == (1, 1)
    assert dental["handlers"]["break"] == 0  # g1 has no dental skill
    assert general["handlers"]["break"] == 1  # the general queue needs no skill

    stats = supervisor.get("/api/v1/stats?window=1h")
    assert isinstance(stats, dict)
    [row] = stats["figures"]
    assert (row["queue"], row["priority"], row["offered"], row["abandoned"]) == ("general", 3, 2, 1)
    assert row["abandoned_after_30s"] == 1
    assert row["abandoned_after_30s_rate"] == 0.5  # of the 2 offered, as the NHS 111 MDS
    assert row["longest_wait"] == 45.0
    bad = client.get("/api/v1/stats?window=week", headers=supervisor.headers)
    assert bad.status_code == 422


def test_the_openapi_document_describes_every_endpoint(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) >= {
        "/api/v1/rules",
        "/api/v1/rules/versions",
        "/api/v1/rules/versions/{number}/activate",
        "/api/v1/rules/dry-run",
        "/api/v1/queues",
        "/api/v1/handlers",
        "/api/v1/handlers/{handler_id}/state",
        "/api/v1/handlers/{handler_id}/heartbeat",
        "/api/v1/stats",
    }
    create = spec["paths"]["/api/v1/rules/versions"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewVersion"
    }
    assert "422" in create["responses"]
    assert "HandlerProfile" in spec["components"]["schemas"]
    for path in ("/api/v1/stats", "/api/v1/handlers/{handler_id}/history"):
        parameters = spec["paths"][path]["get"]["parameters"]
        assert {"name": "window", "in": "query"}.items() <= parameters[-1].items(), path
