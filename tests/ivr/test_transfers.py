"""The webhooks of a caller sent on, driven as Twilio drives them: the dispatch line reached
whatever fails, the ambulance line rung once, and only a clinician's request starting the clock
to one."""

from __future__ import annotations

import redis
from rq.job import Job

from console.tokens import Role
from lifeline.redis_server import RedisServer
from routing import keys
from routing.clock import VirtualClock
from routing.connecting import spoken_case_id
from routing.handlers import HandlerState
from routing.models import case_id_for
from routing.transfers import room_of
from tests.conftest import DISPATCH
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_clinician_callbacks import handler_api, on_a_call
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml
from workers.job_queues import SERIALIZER


def test_a_caller_sent_to_dispatch_reaches_the_line_with_redis_down(
    twilio: TwilioClient, staff: Staff, redis_url: str, redis_server: RedisServer
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1")
    handler_api(twilio, redis_url, "h1").send(
        "POST", "/api/v1/handlers/h1/send-on", {"to": "dispatch"}, 202
    )
    redis_server.kill()

    # The job moves the caller's own leg to the dispatch webhook (the handler's drops).
    dial = call._got(twilio.twiml(f"/twilio/transfer/to-dispatch?call={call.sid}", call.params()))

    assert dial.first("Number").text == DISPATCH
    assert f"case={case_id_for(call.sid)}" in dial.first("Number").get("url", "")


def test_a_warm_transfer_to_dispatch_rings_the_line_once(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    supervisor = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = supervisor.get("/api/v1/rules")["rules"]
    rules["onward"]["dispatch_warm"] = True
    number = supervisor.send("POST", "/api/v1/rules/versions", {"rules": rules}, 201)["number"]
    supervisor.send("POST", f"/api/v1/rules/versions/{number}/activate", {})
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    handler_api(twilio, redis_url, "h1").send(
        "POST", "/api/v1/handlers/h1/send-on", {"to": "dispatch"}, 202
    )
    sync_redis.hset(keys.call(call.sid), "handler_moving", "1")  # as the job marks it
    action = connect.first("Dial").get("action", "")
    room = call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))
    assert room.first("Conference").text == room_of(call.sid)

    dispatcher = twilio.twiml(
        f"/twilio/transfer/dispatcher?call={call.sid}",
        {"CallSid": "CA" + "c" * 32, "From": "+441134960000", "To": DISPATCH},
    )
    assert spoken_case_id(case_id_for(call.sid)) in dispatcher.said[0]
    assert dispatcher.first("Conference").text == room_of(call.sid)
    # The dispatcher is done and hangs up: the room ends, and so does the caller's call.
    exit_url = room.first("Dial").get("action", "")
    after = call._got(twilio.twiml(exit_url, call.params(DialCallStatus="answered")))

    assert after.verbs == []  # no second call to the ambulance line
    assert sync_redis.hget(keys.call(call.sid), "status") == "completed"


def test_an_urgency_given_for_the_dispatch_line_starts_no_clock_to_a_clinician(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h1")

    sent = handler_api(twilio, redis_url, "h1").send(
        "POST", "/api/v1/handlers/h1/send-on", {"to": "dispatch", "urgency": "immediate"}, 202
    )

    assert sent["urgency"] == ""
    assert sync_redis.zcard(keys.CLINICIAN_CLOCK) == 0


def sent_warm_to_a_clinician(
    twilio: TwilioClient, staff: Staff, redis_url: str
) -> tuple[Call, Twiml]:
    """h1's caller, whom h1 asks to send on warm to a clinician: the call, and the TwiML that
    dialled h1."""
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    handler_api(twilio, redis_url, "h1").send(
        "POST",
        "/api/v1/handlers/h1/send-on",
        {"to": "clinician", "urgency": "immediate", "warm": True},
        202,
    )
    return call, connect


def test_the_handler_leaving_the_room_is_heard_from_the_room_alone(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    call, connect = sent_warm_to_a_clinician(twilio, staff, redis_url)
    sync_redis.hset(keys.call(call.sid), "handler_moving", "1")  # as the job marks it
    action = connect.first("Dial").get("action", "")
    room = call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))
    events = room.first("Conference").get("statusCallback", "")
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"  # introducing the case

    # Their own leg's Dial action is lost; the room's status callback says they left.
    twilio.post(
        events,
        {
            "CallSid": "CA" + "e" * 32,
            "ConferenceSid": "CF" + "0" * 32,
            "StatusCallbackEvent": "participant-leave",
            "ParticipantLabel": "handler",
        },
    )

    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"
    assert sync_redis.hget(keys.call(call.sid), "warm_room") is None
    connection = redis.Redis.from_url(redis_url)
    redirect = Job.fetch(f"redirect-{call.sid}", connection=connection, serializer=SERIALIZER)
    connection.close()
    # The caller is moved to wait in the clinicians' queue (unless offered to someone first).
    assert list(redirect.args) == [call.sid, f"/twilio/transfer/to-queue?call={call.sid}", "queued"]


def test_a_warm_transfer_whose_handler_never_moved_goes_cold(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    call, connect = sent_warm_to_a_clinician(twilio, staff, redis_url)

    # The handler hangs up before their leg was moved: the caller's Dial action says so.
    action = connect.first("Dial").get("action", "")
    queued = call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))

    assert queued.first("Enqueue").text == "clinician"  # the hold loop, not a room alone
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"
    assert sync_redis.hget(keys.call(call.sid), "transfer") is None  # taken: not again
