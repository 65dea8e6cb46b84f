"""A clinician's callback a handler arranges: a real callback in the clinicians' queue at the
urgency's class and target, reached by the callback machinery in its turn, raised when at risk of
its target, and the only way to wrap up as "callback arranged". The clock to a clinician runs from
the handler's request to the clinician speaking to the patient."""

from __future__ import annotations

import pytest
import redis

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, MAIN_LINE, METRICS
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_connecting import sweep
from tests.ivr.test_hold_and_callbacks import take_callback
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml

HANDLER_LEG = "CA" + "e" * 32
PATIENT_LEG = "CA" + "d" * 32


def on_a_call(twilio: TwilioClient, handler: str, caller: str = CALLER) -> tuple[Call, Twiml]:
    """A caller put through to `handler` (free, and the only one who is): the call, and the
    TwiML that dialled the handler."""
    call = twilio.call(caller, MAIN_LINE)
    to_queue(call, "2", "1")
    connect = call._got(twilio.twiml(f"/twilio/connect?handler={handler}&offer=1", call.params()))
    twilio.twiml(connect.first("Client").get("url", ""), call.params() | {"CallSid": HANDLER_LEG})
    return call, connect


def hang_up(twilio: TwilioClient, call: Call, connect: Twiml) -> None:
    twilio.twiml(connect.first("Dial").get("action", ""), call.params(DialCallStatus="completed"))


def handler_api(twilio: TwilioClient, redis_url: str, handler: str) -> Api:
    return Api(twilio.client, token_for(redis_url, Role.HANDLER, handler))


def callback_leg(
    twilio: TwilioClient, path: str, callback_id: str, handler: str, leg: str, **params: str
) -> Twiml:
    query = f"?cb={callback_id}&handler={handler}&offer=1&leg={leg}"
    sid = HANDLER_LEG if leg == "handler" else PATIENT_LEG
    base = {"CallSid": sid, "From": MAIN_LINE, "To": f"client:{handler}"}
    return twilio.twiml(path + query, base | {"CallStatus": "in-progress"} | params)


def clock_entries(sync_redis: redis.Redis) -> list[str]:
    return [str(member) for member in sync_redis.zrange(keys.CLINICIAN_CLOCK, 0, -1)]


def test_a_clinicians_callback_is_made_in_its_turn_and_stops_the_clock_when_the_patient_is_reached(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")
    asked_at = clock.now()

    made = h1.send(
        "POST",
        "/api/v1/handlers/h1/clinician-callback",
        {"urgency": "immediate", "notes": "Rash spreading; needs a clinician today."},
        201,
    )

    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert made == {
        "callback": f"{case_id}-C",
        "case_id": case_id,
        "urgency": "immediate",
        "queue": "clinician",
        "priority": 2,
        "due_by": asked_at + 1200,
    }
    member = keys.callback_member(made["callback"])
    assert sync_redis.zrange(keys.queue("clinician"), 0, -1) == [member]
    again = h1.send("POST", "/api/v1/handlers/h1/clinician-callback", {"urgency": "immediate"}, 201)
    assert again["callback"] == made["callback"]  # one per call
    hang_up(twilio, call, connect)
    h1.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "callback_arranged"})

    clock.advance(600)
    staff("c1", state=HandlerState.AVAILABLE, skills={"clinician": 3})
    [offer] = sweep(redis_url, clock.now()).offers
    assert (offer.member, offer.handler) == (member, "c1")
    answer = callback_leg(twilio, "/twilio/callback/answer", made["callback"], "c1", "handler")
    assert answer.first("Number").text == CALLER
    callback_leg(
        twilio, "/twilio/callback/greet", made["callback"], "c1", "patient", AnsweredBy="human"
    )

    state = sync_redis.hgetall(keys.callback(made["callback"]))
    assert (state["status"], state["notes"], state["asked_by"]) == (
        "connected",
        "Rash spreading; needs a clinician today.",
        "h1",
    )
    assert clock_entries(sync_redis) == [
        f"requested|immediate|1200|{made['callback']}",
        f"reached|immediate|600.000|{made['callback']}",
    ]
    supervisor = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    day = supervisor.get("/api/v1/stats/clinician")["day"]
    assert (day["requested"], day["met"], day["missed"], day["open"], day["share"]) == (
        1,
        1,
        0,
        0,
        1.0,
    )
    assert day["longest"] == 600.0
    metrics = twilio.client.get("/metrics", headers=METRICS).text
    assert 'lifeline_clinician_requests{period="today",urgency="immediate"} 1.0' in metrics
    assert 'lifeline_clinician_within_target_rate{period="today",urgency="immediate"} 1.0' in (
        metrics
    )


def test_a_clinicians_callback_at_risk_of_its_target_moves_ahead_of_its_class(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h1", "+447700900001")
    clock.advance(60)
    staff("h2", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h2", "+447700900002")
    h1 = handler_api(twilio, redis_url, "h1")
    h2 = handler_api(twilio, redis_url, "h2")
    # The later caller's callback is asked for first; the earlier caller's, five minutes on.
    at_risk = h2.send(
        "POST", "/api/v1/handlers/h2/clinician-callback", {"urgency": "immediate"}, 201
    )
    clock.advance(300)
    not_yet = h1.send(
        "POST", "/api/v1/handlers/h1/clinician-callback", {"urgency": "immediate"}, 201
    )
    queue = [keys.callback_member(c["callback"]) for c in (not_yet, at_risk)]
    assert sync_redis.zrange(keys.queue("clinician"), 0, -1) == queue  # by arrival

    clock.advance(1200 * 0.75 - 300)
    report = sweep(redis_url, clock.now())

    assert report.callbacks_raised == [at_risk["callback"]]
    state = sync_redis.hgetall(keys.callback(at_risk["callback"]))
    assert (state["priority"], state["at_risk"]) == ("2", "1")
    assert sync_redis.zrange(keys.queue("clinician"), 0, -1) == queue[::-1]


def test_callback_arranged_needs_the_callback_made(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")
    hang_up(twilio, call, connect)

    refused = h1.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "callback_arranged"}, 409)

    assert refused["error"].startswith("arrange the clinician callback before wrapping up as")
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"
    # Arranged in wrap-up (the call over), it is made and the wrap-up goes through.
    h1.send("POST", "/api/v1/handlers/h1/clinician-callback", {"urgency": "within_hour"}, 201)
    done = h1.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "callback_arranged"})
    assert done["state"] == "available"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"urgency": "someday"}, "Choose one of the urgencies: immediate, within_hour."),
        (
            {"urgency": "immediate", "number": "0800 111 222"},
            "…222 is not a UK phone a patient can be called back on.",
        ),
    ],
)
def test_a_clinicians_callback_that_cannot_be_made_is_refused_and_nothing_is_booked(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    body: dict[str, str],
    error: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")

    refused = h1.send("POST", "/api/v1/handlers/h1/clinician-callback", body, 409)

    assert refused["error"] == error
    assert sync_redis.zcard(keys.queue("clinician")) == 0
    assert sync_redis.zcard(keys.CALLBACKS) == 0


def test_a_caller_is_sent_to_a_clinician_one_way_only(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")
    h1.send("POST", "/api/v1/handlers/h1/clinician-callback", {"urgency": "immediate"}, 201)

    refused = h1.send(
        "POST", "/api/v1/handlers/h1/send-on", {"to": "clinician", "urgency": "immediate"}, 409
    )

    assert refused["error"].startswith("A clinician's callback is arranged for this caller")
    sid = str(sync_redis.hget(keys.handler("h1"), "call"))
    assert sync_redis.hget(keys.call(sid), "transfer") is None
    # To the ambulance service, though, at once: the callback does not stand in the way.
    h1.send("POST", "/api/v1/handlers/h1/send-on", {"to": "dispatch"}, 202)


def sent_to_a_clinician(
    twilio: TwilioClient, redis_url: str, urgency: str = "immediate"
) -> tuple[Call, Twiml]:
    """h1's caller, sent on cold to a clinician: the call, and the TwiML that queued them (the
    caller's Dial action, as Twilio sends it once h1's leg has moved)."""
    call, connect = on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")
    h1.send(
        "POST",
        "/api/v1/handlers/h1/send-on",
        {"to": "clinician", "urgency": urgency, "notes": "Chest pain at rest, now settled."},
        202,
    )
    action = connect.first("Dial").get("action", "")
    return call, call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))


def test_a_caller_waiting_for_a_clinician_who_takes_a_callback_keeps_the_clock_and_the_notes(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, enqueue = sent_to_a_clinician(twilio, redis_url)
    asked_at = clock.now()
    assert enqueue.first("Enqueue").text == "clinician"
    clock.advance(400)  # long enough to be offered a callback in the hold loop

    confirm = take_callback(call, enqueue)
    assert call.press(confirm, "1").verbs == ["Say", "Hangup"]
    call.status("completed")

    callback_id = str(sync_redis.hget(keys.call(call.sid), "callback"))
    state = sync_redis.hgetall(keys.callback(callback_id))
    assert (state["queue"], state["urgency"], state["asked_by"]) == ("clinician", "immediate", "h1")
    assert state["notes"] == "Chest pain at rest, now settled."
    assert float(state["due_by"]) == asked_at + 1200  # from the handler's decision
    clock.advance(300)
    staff("c1", state=HandlerState.AVAILABLE, skills={"clinician": 3})
    [offer] = sweep(redis_url, clock.now()).offers
    assert offer.handler == "c1"
    callback_leg(twilio, "/twilio/callback/answer", callback_id, "c1", "handler")
    callback_leg(twilio, "/twilio/callback/greet", callback_id, "c1", "patient", AnsweredBy="human")
    assert clock_entries(sync_redis) == [
        f"requested|immediate|1200|{call.sid}",
        f"reached|immediate|700.000|{call.sid}",  # the same request: one clock, stopped once
    ]


def without_clinicians(twilio: TwilioClient, redis_url: str) -> tuple[Api, int]:
    """A supervisor, and a version of the rules naming no clinicians' queue, not yet active."""
    supervisor = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = supervisor.get("/api/v1/rules")["rules"]
    rules["onward"] = {"clinician_queue": None, "clinician_skill": None}
    return supervisor, supervisor.send("POST", "/api/v1/rules/versions", {"rules": rules}, 201)[
        "number"
    ]


def test_the_clinicians_queue_cannot_go_while_a_caller_waits_in_it(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = sent_to_a_clinician(twilio, redis_url)
    supervisor, number = without_clinicians(twilio, redis_url)

    refused = supervisor.send("POST", f"/api/v1/rules/versions/{number}/activate", {}, 409)

    assert "waits for a clinician, and this version names no clinicians' queue" in str(refused)
    assert sync_redis.zrange(keys.queue("clinician"), 0, -1) == [call.sid]


def test_only_a_clinician_stops_the_clock(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    h1 = handler_api(twilio, redis_url, "h1")
    h1.send("POST", "/api/v1/handlers/h1/send-on", {"to": "clinician", "urgency": "immediate"}, 202)
    # The clinicians' queue goes before the caller is moved: they are placed by their answers.
    supervisor, number = without_clinicians(twilio, redis_url)
    supervisor.send("POST", f"/api/v1/rules/versions/{number}/activate", {})
    action = connect.first("Dial").get("action", "")
    queued = call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))
    assert queued.first("Enqueue").text == "general"

    clock.advance(60)
    staff("h2", state=HandlerState.AVAILABLE)  # a call handler, not a clinician
    [offer] = sweep(redis_url, clock.now()).offers
    assert offer.handler == "h2"
    again = call._got(
        twilio.twiml(f"/twilio/connect?handler=h2&offer={offer.offer}", call.params())
    )
    twilio.twiml(again.first("Client").get("url", ""), call.params() | {"CallSid": HANDLER_LEG})

    assert sync_redis.hget(keys.call(call.sid), "status") == "connected"
    assert clock_entries(sync_redis) == [f"requested|immediate|1200|{call.sid}"]  # still waiting
