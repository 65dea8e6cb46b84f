"""A caller diverted to another service's line by overflow: never sent to the ambulance service
when something fails, and brought back to their place if a late redirect pulls them off it."""

from __future__ import annotations

import logging

import pytest
import redis

from console.tokens import Role
from lifeline.redis_server import RedisServer
from routing import keys
from routing.handlers import HandlerState
from routing.rules import default_rules
from tests.conftest import CALLER, DISPATCH, MAIN_LINE
from tests.console.test_activation import kept_before_the_number_policy
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import redirected
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml

DENTAL_LINE = "+441632960555"


@pytest.fixture
def diverting(twilio: TwilioClient, redis_url: str, staff: Staff) -> TwilioClient:
    """Dental callers go to another service's line while no dentist is on duty."""
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = default_rules().model_dump(mode="json")
    rules["queues"]["dental"]["overflow"] = [
        {"no_skilled_handler": True, "to": {"number": DENTAL_LINE}}
    ]
    version = api.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=201)
    api.send("POST", f"/api/v1/rules/versions/{version['number']}/activate", {})
    staff("h1", state=HandlerState.BUSY)
    return twilio


def diverted(twilio: TwilioClient) -> tuple[Call, Twiml]:
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "2", "3")
    assert dial.first("Number").text == DENTAL_LINE
    return call, dial


def test_a_late_redirect_that_pulls_a_diverted_caller_off_the_line_puts_them_back_in_place(
    diverting: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, _ = diverted(diverting)
    arrival = sync_redis.hget(keys.call(call.sid), "arrival")

    late = redirected(diverting, call, "h1", 1)

    assert late.first("Enqueue").text == "dental"
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["status"], record["arrival"]) == ("queued", arrival)
    assert sync_redis.zscore(keys.queue("dental"), call.sid) is not None


def test_a_diverted_callers_line_not_answering_with_redis_down_is_never_the_ambulance_service(
    diverting: TwilioClient, redis_server: RedisServer
) -> None:
    call, dial = diverted(diverting)
    redis_server.kill()

    action = dial.first("Dial").get("action", "")
    after = diverting.twiml(action, call.params(DialCallStatus="no-answer"))

    assert not after.has("Number") or after.first("Number").text != DISPATCH
    assert after.has("Gather")  # what is happening, the emergency key live, and a retry


def test_an_active_version_diverting_outside_the_number_policy_keeps_the_caller_queued(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    """A version activated before the number policy, diverting dental callers to a premium
    number: the number is not dialled (logged by its end), and the caller waits in `dental`."""
    rules = default_rules().model_dump(mode="json")
    rules["queues"]["dental"]["overflow"] = [
        {"no_skilled_handler": True, "to": {"number": "+449098790000"}}
    ]
    number = kept_before_the_number_policy(sync_redis, rules)
    sync_redis.set(keys.RULES_ACTIVE, str(number))
    staff("h1", state=HandlerState.BUSY)
    caplog.set_level(logging.INFO)
    call = twilio.call(CALLER, MAIN_LINE)

    answer = to_queue(call, "2", "3")

    assert not answer.has("Dial")
    assert answer.first("Enqueue").text == "dental"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert "+449098790000" not in caplog.text
    assert "…000" in caplog.text
