"""An emergency reaches a handler within the rule's limit (30 s by default) or goes to the
dispatch line, whatever the state of the offer: ringing a handler, or reserved for one whose
connection never comes, or waiting when the clinical system goes down."""

from __future__ import annotations

import redis

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, DISPATCH, MAIN_LINE
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import dial_ends, redirected, state_of
from tests.staff import Staff, set_state
from tests.twilio import TwilioClient


def test_a_handler_rings_an_emergency_only_for_what_is_left_of_its_limit(
    twilio: TwilioClient, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")

    clock.advance(18)  # 12 s left of 30
    assert redirected(twilio, call, "h1").first("Dial").get("timeout") == "12"
    clock.advance(10)  # 2 s left: the shortest ring that is any use
    assert redirected(twilio, call, "h1").first("Dial").get("timeout") == "5"


def test_an_emergency_whose_handler_does_not_answer_in_time_goes_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", "h2", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    handler = sync_redis.hget(keys.call(call.sid), "handler")
    assert handler in ("h1", "h2")

    connect = redirected(twilio, call, str(handler))
    clock.advance(30)
    after = dial_ends(twilio, call, connect, "no-answer")

    assert after.first("Number").text == DISPATCH  # not offered to the other handler
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert state_of(sync_redis, str(handler)) == "break"  # the missed offer still counts


def test_an_unanswered_emergency_within_its_limit_is_offered_again(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    connect = redirected(twilio, call, "h1")
    clock.advance(10)
    back = dial_ends(twilio, call, connect, "no-answer")
    assert back.first("Enqueue").text == "emergency"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_an_emergency_reserved_for_a_handler_but_never_connected_goes_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"

    waiting = call.hold(enqueue)  # the connect job has not redirected the call yet
    assert waiting.first("Pause").get("length") == "2"
    clock.advance(30)  # ... and never does (no worker running)
    assert call.hold(enqueue).verbs == ["Leave"]  # no <Dial> in a wait loop: out, then dial
    gone = call.leave_queue(enqueue)

    assert gone.first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert state_of(sync_redis, "h1") == "available"  # not the handler's doing

    late = redirected(twilio, call, "h1")  # the connect job's redirect, too late
    assert late.first("Number").text == DISPATCH  # stays on its way to dispatch


def test_an_emergency_waiting_when_the_clinical_system_goes_down_is_dispatched_at_once(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1")  # on duty, but busy: nobody free
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    assert call.hold(enqueue).first("Pause").get("length") == "30"

    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    api.send("PUT", "/api/v1/mode", {"mode": "degraded", "reason": "clinical system down"})
    assert call.hold(enqueue).verbs == ["Leave"]
    assert call.leave_queue(enqueue).first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"


def test_an_emergency_leaving_for_dispatch_as_a_handler_is_offered_it_is_taken_back_from_them(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    """The hold loop says 'leave' at the limit; before Twilio's queue-exit request arrives,
    another process gives the call to a handler who has just come free. The caller goes to the
    dispatch line and nothing may pull them off it: the offer is withdrawn in the same step."""
    staff("h1")  # busy: the emergency waits
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    clock.advance(30)
    assert call.hold(enqueue).verbs == ["Leave"]
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    set_state(redis_url, "h1", HandlerState.WRAP_UP, clock.now())
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"

    dialled = call.leave_queue(enqueue)

    assert dialled.first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert sync_redis.zscore(keys.RESERVED, call.sid) is None
    assert (state_of(sync_redis, "h1"), sync_redis.hget(keys.handler("h1"), "call")) == (
        "available",
        "",
    )
    # The connect job, running late, finds nothing to connect.
    assert redirected(twilio, call, "h1", 1).first("Number").text == DISPATCH


def test_a_late_repeat_of_a_missed_offers_result_does_not_take_an_emergency_from_its_new_offer(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", "h2", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    first = str(sync_redis.hget(keys.call(call.sid), "handler"))
    connect = redirected(twilio, call, first)
    clock.advance(10)
    dial_ends(twilio, call, connect, "no-answer")  # offered to the other handler at once
    second = str(sync_redis.hget(keys.call(call.sid), "handler"))
    assert (second != first, sync_redis.hget(keys.call(call.sid), "offers")) == (True, "2")
    clock.advance(25)  # past the limit, while the second handler's phone rings

    dial_ends(twilio, call, connect, "no-answer")  # Twilio sends the first result again

    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    assert sync_redis.hget(keys.call(call.sid), "handler") == second
