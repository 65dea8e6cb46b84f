"""An emergency reaches a handler within the rule's limit (30 s by default) or goes to the
dispatch line, whatever the state of the offer: ringing a handler, or reserved for one whose
connection never comes, or waiting when the clinical system goes down."""

from __future__ import annotations

import redis

from config import paths
from console.tokens import Role
from lifeline.redis_server import RedisServer
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.rules import default_rules
from tests.conftest import CALLER, DISPATCH, MAIN_LINE, WELSH_LINE
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import dial_ends, redirected, state_of
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml


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


def test_an_unanswered_emergency_within_its_limit_is_offered_to_the_next_free_handler(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", "h2", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    first = str(sync_redis.hget(keys.call(call.sid), "handler"))
    connect = redirected(twilio, call, first)
    clock.advance(10)
    back = dial_ends(twilio, call, connect, "no-answer")
    assert back.first("Enqueue").text == "emergency"
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["status"], record["offers"]) == ("reserved", "2")
    assert record["handler"] not in ("", first)


def test_an_unanswered_emergency_with_nobody_else_free_goes_to_dispatch_at_once(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    connect = redirected(twilio, call, "h1")
    clock.advance(10)  # well within the limit, but h1 now rests and nobody else is free
    assert dial_ends(twilio, call, connect, "no-answer").first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"


def test_an_emergency_reserved_for_a_handler_but_never_connected_goes_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"

    waiting = call.hold(enqueue)  # the connect job has not redirected the call yet
    assert waiting.said == ["Please stay on the line. We are connecting you now."]  # not silence
    assert waiting.first("Pause").get("length") == "10"
    clock.advance(10)  # ... and still has not (no worker running): it is not coming in time
    assert call.hold(enqueue).verbs == ["Leave"]  # no <Dial> in a wait loop: out, then dial
    gone = call.leave_queue(enqueue)

    assert gone.first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert state_of(sync_redis, "h1") == "available"  # not the handler's doing

    late = redirected(twilio, call, "h1")  # the connect job's redirect, too late
    assert late.first("Number").text == DISPATCH  # stays on its way to dispatch


def waiting_for_wrap_ups(twilio: TwilioClient, redis_url: str, seconds: int = 30) -> None:
    """Rules under which an emergency waits (up to `seconds`) for a handler finishing a wrap-up,
    rather than going to the dispatch line at once."""
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = default_rules().model_dump(mode="json")
    rules["emergency"]["wait_for_wrap_up_seconds"] = seconds
    version = api.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=201)
    api.send("POST", f"/api/v1/rules/versions/{version['number']}/activate", {})


def waiting_emergency(twilio: TwilioClient, redis_url: str, staff: Staff) -> tuple[Call, Twiml]:
    """An emergency that waits: its one handler is finishing a wrap-up, which the rules wait for."""
    staff("h1", state=HandlerState.WRAP_UP)
    waiting_for_wrap_ups(twilio, redis_url)
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    assert enqueue.first("Enqueue").text == "emergency"
    return call, enqueue


def test_an_emergency_with_nobody_free_who_could_take_it_goes_to_dispatch_at_once(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", "h2")  # on calls
    staff("h3", state=HandlerState.BREAK)
    staff("h4", state=HandlerState.WRAP_UP)  # the packaged rules do not wait for wrap-ups
    call = twilio.call(CALLER, MAIN_LINE)
    dialled = call.say_words(call.start(), "Yes.")
    assert dialled.first("Number").text == DISPATCH
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["status"], record["priority"]) == ("dispatched", "1")


def test_an_emergency_waiting_is_ahead_of_everyone_and_never_silent(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, staff: Staff, redis_url: str
) -> None:
    earlier = twilio.call("+447700900001", MAIN_LINE)
    to_queue(earlier, "2", "1")
    clock.advance(20)  # (h1's wrap-up lasts 60 s)
    call, enqueue = waiting_emergency(twilio, redis_url, staff)

    assert "connecting you to someone who can help right now" in enqueue.text
    p1 = sync_redis.zscore(keys.queue("emergency"), call.sid)
    p3 = sync_redis.zscore(keys.queue("general"), earlier.sid)
    assert p1 is not None
    assert p3 is not None
    assert p1 < p3
    first = call.hold(enqueue)
    assert first.verbs == ["Say", "Pause", "Redirect"]
    assert first.said == ["Please stay on the line. We are connecting you now."]
    assert first.first("Pause").get("length") == "10"  # again and again, never long
    clock.advance(15)
    assert call.hold(first).first("Pause").get("length") == "10"
    clock.advance(10)
    assert call.hold(first).first("Pause").get("length") == "5"
    clock.advance(5)
    assert call.hold(first).verbs == ["Leave"]
    dial = call.leave_queue(enqueue)
    assert dial.first("Number").text == DISPATCH
    assert sync_redis.zrange(keys.queue("emergency"), 0, -1) == []
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"


def test_an_emergency_waiting_for_a_wrap_up_goes_to_the_handler_who_finishes_it(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, staff: Staff, redis_url: str
) -> None:
    call, _ = waiting_emergency(twilio, redis_url, staff)
    clock.advance(8)
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})
    assert sync_redis.hget(keys.call(call.sid), "handler") == "h1"
    assert redirected(twilio, call, "h1").first("Client").text == "h1"


def test_a_waiting_emergency_whose_last_possible_handler_goes_goes_to_dispatch_at_its_next_turn(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, staff: Staff, redis_url: str
) -> None:
    call, enqueue = waiting_emergency(twilio, redis_url, staff)
    first = call.hold(enqueue)
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "offline"})
    clock.advance(10)  # the next turn of the wait loop, at most the reassurance interval later
    assert call.hold(first).verbs == ["Leave"]
    assert call.leave_queue(enqueue).first("Number").text == DISPATCH


def test_an_emergency_waiting_when_the_clinical_system_goes_down_is_dispatched_at_once(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    call, enqueue = waiting_emergency(twilio, redis_url, staff)
    assert call.hold(enqueue).first("Pause").get("length") == "10"

    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
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
    """The hold loop says 'leave' (h1, whose wrap-up it waited for, went offline); before
    Twilio's queue-exit request arrives, another process gives the call to h2, who has just come
    free. The caller goes to the dispatch line and nothing may pull them off it: the offer is
    withdrawn in the same step."""
    call, enqueue = waiting_emergency(twilio, redis_url, staff)  # h1 finishing a wrap-up
    staff("h2", state=HandlerState.OFFLINE)
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "offline"})
    clock.advance(5)
    assert call.hold(enqueue).verbs == ["Leave"]
    api.send("PUT", "/api/v1/handlers/h2/state", {"state": "available"})
    assert sync_redis.hget(keys.call(call.sid), "handler") == "h2"

    dialled = call.leave_queue(enqueue)

    assert dialled.first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert sync_redis.zscore(keys.RESERVED, call.sid) is None
    assert (state_of(sync_redis, "h2"), sync_redis.hget(keys.handler("h2"), "call")) == (
        "available",
        "",
    )
    # The connect job, running late, finds nothing to connect.
    assert redirected(twilio, call, "h2", 1).first("Number").text == DISPATCH


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


def test_an_emergency_past_its_limit_is_never_offered_to_a_handler(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock, redis_url: str
) -> None:
    """Past the limit a caller is on their way to the dispatch line (or on it already, when the
    news missed Redis): an offer would pull them off it."""
    call, _ = waiting_emergency(twilio, redis_url, staff)  # waits for h1's wrap-up
    medical = twilio.call("+447700900005", MAIN_LINE)
    to_queue(medical, "2", "1")
    clock.advance(31)  # past the limit, its hold loop not yet round again
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    api.send("PUT", "/api/v1/handlers/h1/state", {"state": "available"})

    assert sync_redis.hget(keys.call(medical.sid), "handler") == "h1"  # the next one, instead
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_an_emergency_who_had_asked_for_a_callback_is_still_put_through_to_dispatch(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_server: RedisServer,
) -> None:
    """Asked for a callback in the wait loop; Redis failed at the queue's exit, so the caller
    was in the retry loop, where they pressed 1: an emergency now, whatever they asked before."""
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")  # nobody on duty: a callback is offered
    assert call.press(call.hold(enqueue), "1").verbs == ["Leave"]
    redis_server.stop()
    retry = call.leave_queue(enqueue)
    assert "/twilio/retry" in retry.first("Gather").get("action", "")
    redis_server.start()
    staff("h1", state=HandlerState.AVAILABLE)  # free, but the connect job never comes
    sync_redis.ping()

    placed = call.press(retry, "1")
    assert placed.first("Enqueue").text == "emergency"
    clock.advance(10)
    assert call.hold(placed).verbs == ["Leave"]
    assert call.leave_queue(placed).first("Number").text == DISPATCH


def test_an_emergency_whose_connect_fails_with_redis_down_is_put_through_in_their_language(
    twilio: TwilioClient, staff: Staff, redis_server: RedisServer
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, WELSH_LINE)
    to_queue(call, "1", "1")  # Cymraeg, then an emergency: offered to h1
    connect = twilio.twiml(paths.connect("h1", 1, 1, "cy-GB"), call.params())
    redis_server.kill()

    for twiml in (
        twilio.twiml(paths.connect("h1", 1, 1, "cy-GB"), call.params()),  # a late redirect
        twilio.twiml(connect.first("Dial").get("action", ""), call.params(DialCallStatus="busy")),
    ):
        assert twiml.first("Number").text == DISPATCH
        assert "gwasanaeth ambiwlans" in twiml.text
        assert not twiml.has("Gather")  # never the screen question again


def test_a_dispatch_missed_by_redis_is_recorded_when_the_dispatcher_answers(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_server: RedisServer,
    redis_url: str,
) -> None:
    call, enqueue = waiting_emergency(twilio, redis_url, staff)
    clock.advance(30)
    assert call.hold(enqueue).verbs == ["Leave"]
    redis_server.stop()  # the queue's exit cannot record the dispatch
    dial = call.leave_queue(enqueue)
    assert dial.first("Number").text == DISPATCH
    redis_server.start()
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"

    dispatcher = {"CallSid": "CA" + "d" * 32, "ParentCallSid": call.sid}
    heard = twilio.twiml(dial.first("Number").get("url", ""), call.params() | dispatcher)

    assert "case" in heard.text.lower()
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
