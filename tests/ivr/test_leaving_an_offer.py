"""A handler who leaves while a call is offered to them (or while on one) never ends up holding
two: the offer goes back to its place in the same step, and only the live offer can be answered."""

from __future__ import annotations

import pytest
import redis

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, MAIN_LINE
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import dial_ends, handler_answers, redirected, state_of, sweep
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml

LEAVING = [
    pytest.param({"state": "break", "reason": "tea"}, id="break"),
    pytest.param({"state": "offline"}, id="offline"),
]


def live_items(sync_redis: redis.Redis, handler: str) -> list[str]:
    """Calls and callbacks that name `handler` and are offered to them or talking to them."""
    found = []
    for pattern in (keys.call("*"), keys.callback("*")):
        for key in sync_redis.scan_iter(match=pattern):
            if str(key).endswith(":history"):
                continue
            status, named = sync_redis.hmget(key, ["status", "handler"])
            if named == handler and status in ("reserved", "connected"):
                found.append(str(key))
    return sorted(found)


def assert_holds_at_most_one(sync_redis: redis.Redis, handler: str) -> None:
    items = live_items(sync_redis, handler)
    assert len(items) <= 1, f"{handler} holds {items}"
    state, call = sync_redis.hmget(keys.handler(handler), ["state", "call"])
    if items:
        member = items[0].removeprefix(keys.call("")).replace(keys.callback(""), "cb:")
        assert call == member, f"{handler} points at {call!r}, not at {member!r}"
        assert state in ("reserved", "busy")
    else:
        assert state not in ("reserved", "busy")


@pytest.mark.parametrize("leave", LEAVING)
def test_a_reserved_handler_who_leaves_releases_the_offer_and_cannot_answer_it_later(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
    leave: dict[str, str],
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    staff("h1", state=HandlerState.AVAILABLE)
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")
    score = float(sync_redis.hget(keys.call(first.sid), "score") or 0)
    assert sync_redis.hget(keys.call(first.sid), "handler") == "h1"

    api.send("PUT", "/api/v1/handlers/h1/state", leave)
    # Back in its place at once, in the same step as the handler left.
    assert sync_redis.hget(keys.call(first.sid), "status") == "queued"
    assert sync_redis.zscore(keys.queue("general"), first.sid) == score
    assert_holds_at_most_one(sync_redis, "h1")

    clock.advance(5)
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    second = twilio.call("+447700900002", MAIN_LINE)
    to_queue(second, "2", "1")
    assert_holds_at_most_one(sync_redis, "h1")

    # The first offer's redirect comes late and the handler answers it: nothing changes hands.
    connect = redirected(twilio, first, "h1", 1)
    if connect.has("Client"):
        handler_answers(twilio, first, connect)
    assert_holds_at_most_one(sync_redis, "h1")
    assert sync_redis.hget(keys.call(first.sid), "offers") == "2"  # offered afresh, in its turn


def test_a_handler_whose_heartbeat_stops_while_reserved_releases_the_offer_in_one_step(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    sync_redis.zadd(keys.HEARTBEATS, {"h1": clock.now()})
    call = twilio.call("+447700900001", MAIN_LINE)
    to_queue(call, "2", "1")
    clock.advance(31)
    assert sweep(redis_url, clock.now()).handlers_gone == ["h1"]
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert (sync_redis.hget(keys.handler("h1"), "state"), live_items(sync_redis, "h1")) == (
        "offline",
        [],
    )


def test_an_answer_to_an_offer_the_handler_no_longer_holds_connects_nothing(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
) -> None:
    """Belt and braces: the record says reserved for h1, but h1 holds another call."""
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call("+447700900001", MAIN_LINE)
    to_queue(call, "2", "1")
    connect = redirected(twilio, call, "h1", 1)
    sync_redis.hset(keys.handler("h1"), "call", "CA" + "e" * 32)

    whisper = handler_answers(twilio, call, connect)

    assert whisper.verbs == ["Say", "Hangup"]
    assert sync_redis.hget(keys.call(call.sid), "status") != "connected"


def test_a_busy_handler_who_goes_offline_is_not_offered_another_call_until_theirs_ends(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    staff("h1", state=HandlerState.AVAILABLE)
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")
    connect = redirected(twilio, first, "h1", 1)
    handler_answers(twilio, first, connect)
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"

    after = api.send("PUT", "/api/v1/handlers/h1/state", {"state": "offline"})
    assert after["after_call"] == "offline"  # still on the call: offline once it is over
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"}, status=409)
    second = twilio.call("+447700900002", MAIN_LINE)
    to_queue(second, "2", "1")
    assert_holds_at_most_one(sync_redis, "h1")
    assert sync_redis.hget(keys.call(second.sid), "status") == "queued"

    dial_ends(twilio, first, connect, "completed")
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"
    clock.advance(61)
    sweep(redis_url, clock.now())
    # Wrap-up over: where they asked to go, not back to taking calls.
    assert sync_redis.hget(keys.handler("h1"), "state") == "offline"
    assert sync_redis.hget(keys.call(second.sid), "status") == "queued"


def test_a_busy_handler_whose_console_goes_quiet_goes_offline_when_the_call_ends(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    sync_redis.zadd(keys.HEARTBEATS, {"h1": clock.now()})
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")
    connect = redirected(twilio, first, "h1", 1)
    handler_answers(twilio, first, connect)
    clock.advance(31)
    sweep(redis_url, clock.now())
    # The phone call goes on without the console: the handler stays with it.
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"
    assert sync_redis.hget(keys.call(first.sid), "status") == "connected"

    dial_ends(twilio, first, connect, "completed")
    clock.advance(61)
    sweep(redis_url, clock.now())
    assert sync_redis.hget(keys.handler("h1"), "state") == "offline"


def picks_up_too_late(twilio: TwilioClient, call: Call, connect: Twiml) -> Twiml:
    """The handler answers a ring whose offer is over: they are told so and hung up on, and
    Twilio ends the caller's <Dial> as completed, never bridged."""
    assert handler_answers(twilio, call, connect).verbs == ["Say", "Hangup"]
    return dial_ends(twilio, call, connect, "completed", bridged=False)


def test_a_handler_picking_up_a_ring_after_leaving_does_not_hang_up_on_the_caller(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call("+447700900001", MAIN_LINE)
    to_queue(call, "2", "1")
    connect = redirected(twilio, call, "h1", 1)
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "break", "reason": "tea"})

    after = picks_up_too_late(twilio, call, connect)

    assert after.first("Enqueue").text == "general"  # back in their place, not hung up on
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_a_ring_answered_after_the_offer_moved_on_leaves_the_new_offer_alone(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    """The connect job ran late, the sweep gave up on the offer while the phone rang, and the
    call was offered afresh; then the first ring is answered."""
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call("+447700900001", MAIN_LINE)
    to_queue(call, "2", "1")
    clock.advance(40)
    connect = redirected(twilio, call, "h1", 1)
    clock.advance(11)
    sweep(redis_url, clock.now())
    assert sync_redis.hget(keys.call(call.sid), "offers") == "2"

    after = picks_up_too_late(twilio, call, connect)

    assert after.verbs == ["Say", "Enqueue"]  # waits for the live offer's redirect
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    assert_holds_at_most_one(sync_redis, "h1")


def test_a_missed_offers_rest_does_not_end_a_break_the_handler_chooses_later(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    dial_ends(twilio, call, redirected(twilio, call, "h1"), "no-answer")  # a 60 s rest
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})  # back early
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "break", "reason": "meal"})

    clock.advance(120)
    api.send("POST", "/api/v1/handlers/h1/heartbeat", {})  # the console is still open
    sweep(redis_url, clock.now())

    assert state_of(sync_redis, "h1") == "break"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
