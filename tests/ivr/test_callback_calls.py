"""Callbacks made: offered in turn, handler first then patient, machines and no answers retried
by the rules, the unreachable kept for a clinician, repeat callers, and the supervisor's API."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import redis
import redis.asyncio

from console.tokens import Role
from routing import keys
from routing.callbacks import Booking, Callbacks
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.models import Placement
from routing.rules import default_rules
from tests.conftest import CALLER, MAIN_LINE, NUMBERS
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import queue_of, to_queue
from tests.ivr.test_connecting import sweep, with_phone
from tests.ivr.test_hold_and_callbacks import queued_medical, take_callback
from tests.routing.test_callbacks import book, book_many, book_to, on_redis
from tests.staff import Staff, set_state
from tests.twilio import TwilioClient, Twiml

HANDLER_LEG = "CA" + "e" * 32
PATIENT_LEG = "CA" + "d" * 32
RECORDED = "Calls to NHS 111 are recorded, for your care and to improve our service."
KEPT = (
    "Your call back is still booked, and you keep your place. If things get worse, hang up and "
    "call 999. Goodbye."
)


def case_of(sync_redis: redis.Redis, caller_sid: str) -> str:
    return str(sync_redis.hget(keys.call(caller_sid), "case_id"))


def callback(sync_redis: redis.Redis, callback_id: str) -> dict[str, str]:
    return dict(sync_redis.hgetall(keys.callback(callback_id)))  # type: ignore[arg-type]


def leg(
    twilio: TwilioClient, path: str, callback_id: str, offer: int, leg_name: str, **params: str
) -> Twiml:
    query = f"?cb={callback_id}&handler=h1&offer={offer}&leg={leg_name}"
    sid = HANDLER_LEG if leg_name == "handler" else PATIENT_LEG
    base = {"CallSid": sid, "From": MAIN_LINE, "To": "client:h1", "CallStatus": "in-progress"}
    return twilio.twiml(path + query, base | params)


def talked_and_hung_up(
    twilio: TwilioClient, sync_redis: redis.Redis, callback_id: str, first: str
) -> None:
    """The bridged call ends: the callback is done and the handler wraps up."""
    done = leg(
        twilio,
        "/twilio/callback/result",
        callback_id,
        1,
        first,
        DialCallStatus="completed",
        DialBridged="true",
    )
    assert done.verbs == []
    assert callback(sync_redis, callback_id)["status"] == "done"
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"


def booked(twilio: TwilioClient, sync_redis: redis.Redis, caller: str = CALLER) -> str:
    call, enqueue = queued_medical(twilio, caller)
    confirm = take_callback(call, enqueue)
    assert call.press(confirm, "1").verbs == ["Say", "Hangup"]
    call.status("completed")
    return case_of(sync_redis, call.sid)


def test_a_booked_callback_is_offered_in_its_turn(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = booked(twilio, sync_redis)
    staff("h1", state=HandlerState.AVAILABLE)
    [offer] = sweep(redis_url, clock.now()).offers
    assert (offer.member, offer.handler, offer.offer) == (f"cb:{callback_id}", "h1", 1)
    assert callback(sync_redis, callback_id)["status"] == "reserved"
    assert sync_redis.hget(keys.handler("h1"), "call") == f"cb:{callback_id}"


def offered(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> str:
    callback_id = booked(twilio, sync_redis)
    staff("h1", state=HandlerState.AVAILABLE)
    assert len(sweep(redis_url, clock.now()).offers) == 1
    return callback_id


def test_the_handler_hears_the_case_then_the_patient_is_dialled_with_machine_detection(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    answer = leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")

    spoken_case = " ".join(callback_id.replace("-", ""))
    assert (
        answer.said[0] == f"Callback for case {spoken_case}, priority 3. Ringing the patient now."
    )
    assert answer.said[1] == "Reason: a medical problem."
    number = answer.first("Number")
    assert number.text == CALLER
    assert number.get("machineDetection") == "Enable"
    assert "/twilio/callback/greet?" in number.get("url", "")
    assert answer.first("Dial").get("timeout") == "30"


def test_a_patient_who_answers_is_greeted_and_connected_and_the_callback_is_made_on_time(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")
    greeting = leg(twilio, "/twilio/callback/greet", callback_id, 1, "patient", AnsweredBy="human")

    assert greeting.verbs == ["Say", "Say"]
    assert "calling you back" in greeting.said[0]
    assert greeting.said[1] == RECORDED
    assert callback(sync_redis, callback_id)["status"] == "connected"
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"

    talked_and_hung_up(twilio, sync_redis, callback_id, "handler")


def patient_first(twilio: TwilioClient, redis_url: str) -> None:
    """A rule set with `callbacks.first: patient`, made active as a supervisor would."""
    api = supervisor(twilio, redis_url)
    rules = api.get("/api/v1/rules")["rules"]
    rules["callbacks"]["first"] = "patient"
    version = api.send("POST", "/api/v1/rules/versions", {"rules": rules}, 201)
    api.send("POST", f"/api/v1/rules/versions/{version['number']}/activate", {"reason": "test"})


def test_patient_first_greets_the_patient_then_rings_the_handler_who_hears_the_case(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)

    answered = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", To=CALLER, AnsweredBy="human"
    )

    assert answered.verbs == ["Say", "Say", "Dial"]
    assert answered.said == [
        "Hello. This is NHS 111 calling you back, as you asked. Please hold while we put you "
        "through to a call handler.",
        RECORDED,
    ]
    dial, client = answered.first("Dial"), answered.first("Client")
    assert dial.get("timeout") == "20"  # the rule set's offer timeout: the handler's phone rings
    assert "/twilio/callback/result?" in dial.get("action", "")
    assert "leg=patient" in dial.get("action", "")
    assert client.text == "h1"
    assert not answered.has("Number")  # the handler's leg has no machine detection
    assert callback(sync_redis, callback_id)["status"] == "reserved"  # nobody connected yet

    handler_leg = {"CallSid": HANDLER_LEG, "ParentCallSid": PATIENT_LEG, "To": "client:h1"}
    whisper = twilio.twiml(client.get("url", ""), handler_leg | {"CallStatus": "in-progress"})

    spoken_case = " ".join(callback_id.replace("-", ""))
    assert whisper.verbs == ["Say", "Say"]  # no hang-up: the handler is put through
    assert whisper.said[0] == (
        f"Callback for case {spoken_case}, priority 3. The patient is on the line."
    )
    assert whisper.said[1] == "Reason: a medical problem."
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("connected", "1")
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"

    talked_and_hung_up(twilio, sync_redis, callback_id, "patient")


def test_patient_first_an_answering_machine_hears_nothing_and_the_callback_is_retried(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)

    machine = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", AnsweredBy="machine_start"
    )

    assert machine.verbs == []
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("scheduled", "1")
    assert float(state["not_before"]) == clock.now() + 300
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"


def test_patient_first_a_patient_who_does_not_answer_is_tried_again_later(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    leg(twilio, "/twilio/callback/status", callback_id, 1, "patient", CallStatus="initiated")
    leg(twilio, "/twilio/callback/status", callback_id, 1, "patient", CallStatus="no-answer")

    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"], state["outbound:1"]) == (
        "scheduled",
        "1",
        PATIENT_LEG,
    )
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"


def test_patient_first_a_handler_who_does_not_answer_leaves_the_callback_in_its_place(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    score = float(callback(sync_redis, callback_id)["score"])
    leg(twilio, "/twilio/callback/answer", callback_id, 1, "patient", AnsweredBy="human")

    told = leg(
        twilio, "/twilio/callback/result", callback_id, 1, "patient", DialCallStatus="no-answer"
    )

    assert told.verbs == ["Say", "Hangup"]
    assert "We will call you back again shortly." in told.text
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("pending", "0")  # the patient was reached
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") == score
    assert sync_redis.hget(keys.handler("h1"), "reason") == "missed"


def test_patient_first_a_patient_answering_after_the_offer_was_taken_back_hears_they_keep_it(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    # No outcome comes while the patient's phone rings (no status callback recorded the call):
    # the sweep takes the offer back, and offers the callback again (offer 2).
    offers = default_rules().offers
    clock.advance(offers.offer_timeout_seconds + offers.lost_after_seconds + 1)
    released = sweep(redis_url, clock.now())
    assert released.offers_released == [f"cb:{callback_id}"], released
    assert callback(sync_redis, callback_id)["offers"] == "2"

    late = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", To=CALLER, AnsweredBy="human"
    )

    # The patient hears, in their own words, that they will be called again; not the handler's
    # "this call is no longer waiting for you".
    assert late.verbs == ["Say", "Hangup"]
    assert "We will call you back again shortly." in late.text
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["offers"], state["attempts"]) == ("reserved", "2", "0")


def taken_back(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> str:
    """Patient first, the first offer taken back by the sweep while the patient's phone rang."""
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    offers = default_rules().offers
    clock.advance(offers.offer_timeout_seconds + offers.lost_after_seconds + 1)
    assert sweep(redis_url, clock.now()).offers_released == [f"cb:{callback_id}"]
    return callback_id


def test_an_answering_machine_on_a_call_whose_offer_was_taken_back_hears_nothing(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = taken_back(twilio, sync_redis, staff, redis_url, clock)
    late = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", AnsweredBy="machine_end_beep"
    )
    assert late.verbs == []
    assert callback(sync_redis, callback_id)["attempts"] == "0"


def test_a_patient_whose_callback_was_cancelled_meanwhile_is_promised_nothing(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = taken_back(twilio, sync_redis, staff, redis_url, clock)
    set_state(redis_url, "h1", HandlerState.OFFLINE, clock.now())  # offer 2 back too
    api = supervisor(twilio, redis_url)
    api.send("POST", f"/api/v1/callbacks/{callback_id}/cancel", {"reason": "resolved"})
    assert callback(sync_redis, callback_id)["status"] == "cancelled"

    late = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", To=CALLER, AnsweredBy="human"
    )

    assert late.verbs == ["Hangup"]
    assert "call you back" not in late.text


def test_patient_first_a_handlers_phone_outside_the_policy_is_not_dialled_and_the_patient_told(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The patient, on the line, is told they keep their callback, never cut off in silence; the
    handler goes offline, saying why, as for a caller's connect."""
    patient_first(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    score = float(callback(sync_redis, callback_id)["score"])
    with_phone(sync_redis, "h1", "+882345678901")  # kept from before the number policy
    caplog.set_level(logging.INFO)

    told = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", To=CALLER, AnsweredBy="human"
    )

    assert told.verbs == ["Say", "Hangup"]
    assert not told.has("Dial")
    assert "We will call you back again shortly." in told.text
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"], state["handler"]) == ("pending", "0", "")
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") == score
    handler = sync_redis.hgetall(keys.handler("h1"))
    assert (handler["state"], handler["reason"]) == ("offline", "phone outside the number policy")
    assert "+882345678901" not in caplog.text
    assert "…901" in caplog.text


def test_an_answering_machine_is_left_no_message_and_the_callback_retried_later(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")
    machine = leg(
        twilio, "/twilio/callback/greet", callback_id, 1, "patient", AnsweredBy="machine_start"
    )
    assert machine.verbs == ["Hangup"]
    told = leg(
        twilio,
        "/twilio/callback/result",
        callback_id,
        1,
        "handler",
        DialCallStatus="completed",
        DialBridged="false",
    )

    assert "The patient did not answer." in told.text
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("scheduled", "1")
    assert float(state["not_before"]) == clock.now() + 300  # priority 3: first spacing 300 s
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") is None


def test_a_retry_comes_back_to_its_original_place_when_due(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    score = float(callback(sync_redis, callback_id)["score"])
    leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")
    leg(twilio, "/twilio/callback/result", callback_id, 1, "handler", DialCallStatus="no-answer")
    sync_redis.hset(keys.handler("h1"), "state", "break")  # nobody free, so it waits in the queue
    sync_redis.zrem(keys.handler_state("available"), "h1")

    clock.advance(299)
    assert sweep(redis_url, clock.now()).callbacks_due == 0
    clock.advance(1)
    assert sweep(redis_url, clock.now()).callbacks_due == 1
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") == score
    assert callback(sync_redis, callback_id)["status"] == "pending"


def unreachable(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> str:
    """A callback whose every attempt failed (priority 3: three, 300 then 900 s apart)."""
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    for offer in (1, 2, 3):
        leg(twilio, "/twilio/callback/answer", callback_id, offer, "handler")
        leg(twilio, "/twilio/callback/result", callback_id, offer, "handler", DialCallStatus="busy")
        clock.advance(900)
        sweep(redis_url, clock.now())
    return callback_id


def test_when_every_attempt_fails_the_callback_waits_for_a_clinician_with_its_history(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable(twilio, sync_redis, staff, redis_url, clock)
    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("unreachable", "3")
    assert sync_redis.zscore(keys.CALLBACKS + ":unreachable", callback_id) is not None

    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    [row] = api.get("/api/v1/callbacks?status=unreachable")
    assert row["callback"]["id"] == callback_id
    detail = api.get(f"/api/v1/callbacks/{callback_id}")
    events = [entry["event"] for entry in detail["history"]]
    assert events == [
        "booked",
        "not reached",
        "due",
        "not reached",
        "due",
        "not reached",
        "unreachable",
    ]


def test_every_unreachable_callback_is_listed_however_many_were_booked_since(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable(twilio, sync_redis, staff, redis_url, clock)
    on_redis(redis_url, lambda client: book_many(client, 500, clock.now()))
    api = supervisor(twilio, redis_url)

    [row] = api.get("/api/v1/callbacks?status=unreachable")
    assert row["callback"]["id"] == callback_id
    [row] = api.get("/api/v1/callbacks?status=unreachable&priority=3")
    assert row["callback"]["id"] == callback_id
    assert api.get("/api/v1/callbacks?status=unreachable&priority=2") == []
    assert len(api.get("/api/v1/callbacks?status=pending")) == 500


def test_a_supervisor_reprioritising_an_unreachable_callback_puts_it_back_in_the_queue(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable(twilio, sync_redis, staff, redis_url, clock)
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"
    api = supervisor(twilio, redis_url)

    again = api.send(
        "PUT",
        f"/api/v1/callbacks/{callback_id}/priority",
        {"priority": 2, "reason": "GP asked us to keep trying"},
    )

    # Back in the queue with a fresh set of attempts, and offered at once to the free handler.
    assert (again["callback"]["status"], again["callback"]["attempts"]) == ("reserved", 0)
    assert sync_redis.hget(keys.handler("h1"), "call") == f"cb:{callback_id}"
    assert api.get("/api/v1/callbacks?status=unreachable") == []
    events = [entry["event"] for entry in again["history"]]
    assert events[-2:] == ["priority", "back in queue"]
    # This time the patient answers: three more attempts were there to be had.
    offer = int(again["callback"]["offers"])
    leg(twilio, "/twilio/callback/answer", callback_id, offer, "handler")
    leg(twilio, "/twilio/callback/greet", callback_id, offer, "patient", AnsweredBy="human")
    assert callback(sync_redis, callback_id)["status"] == "connected"


def test_an_unreachable_callback_is_not_put_back_over_the_callers_newer_one(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable(twilio, sync_redis, staff, redis_url, clock)
    newer = on_redis(redis_url, lambda client: book(client, 2, clock.now(), caller=CALLER))
    api = supervisor(twilio, redis_url)

    refused = api.send(
        "PUT", f"/api/v1/callbacks/{callback_id}/priority", {"priority": 2, "reason": "x"}, 409
    )

    assert refused == {
        "error": f"the caller has a newer callback, {newer}, still to be made: change that one"
    }
    assert callback(sync_redis, callback_id)["status"] == "unreachable"


def test_an_unreachable_callback_is_not_put_back_over_another_callers_to_its_number(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable(twilio, sync_redis, staff, redis_url, clock)
    holder = on_redis(redis_url, lambda client: book_to(client, 2, CALLER, clock.now()))
    api = supervisor(twilio, redis_url)

    refused = api.send(
        "PUT", f"/api/v1/callbacks/{callback_id}/priority", {"priority": 2, "reason": "x"}, 409
    )

    assert refused == {
        "error": f"another caller's callback to the same number, {holder}, is still to be made: "
        "this one can go back in the queue once that one is over"
    }
    assert callback(sync_redis, callback_id)["status"] == "unreachable"


def test_a_handler_who_does_not_answer_the_callback_leg_gives_it_back_in_place(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    score = float(callback(sync_redis, callback_id)["score"])
    leg(twilio, "/twilio/callback/status", callback_id, 1, "handler", CallStatus="initiated")
    assert callback(sync_redis, callback_id)["outbound:1"] == HANDLER_LEG
    leg(twilio, "/twilio/callback/status", callback_id, 1, "handler", CallStatus="no-answer")

    state = callback(sync_redis, callback_id)
    assert (state["status"], state["attempts"]) == ("pending", "0")
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") == score
    assert sync_redis.hget(keys.handler("h1"), "reason") == "missed"


def test_an_urgent_callback_at_risk_of_its_target_moves_ahead(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", skills={"clinical": 3})  # busy: callbacks wait
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")  # a caller who has waited longer, priority 3
    clock.advance(10)
    callback_id = booked(twilio, sync_redis)
    clock.advance(3600 * 0.75)
    report = sweep(redis_url, clock.now())
    assert report.callbacks_raised == [callback_id]
    state = callback(sync_redis, callback_id)
    assert (state["priority"], state["at_risk"]) == ("2", "1")
    assert sync_redis.zrange(keys.queue("general"), 0, -1)[0] == f"cb:{callback_id}"


def test_callback_clocks_keep_running_while_the_clinical_system_is_down(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1")  # busy: the callback waits
    callback_id = booked(twilio, sync_redis)
    api = supervisor(twilio, redis_url)
    api.send("PUT", "/api/v1/mode", {"mode": "degraded", "reason": "clinical system down"})
    clock.advance(3600 * 0.75)
    assert sweep(redis_url, clock.now()).callbacks_raised == [callback_id]  # at risk all the same
    clock.advance(3600 * 0.25 + 1)
    [late] = api.get("/api/v1/callbacks?overdue=true")
    assert late["callback"]["id"] == callback_id
    set_state(redis_url, "h1", HandlerState.AVAILABLE, clock.now())
    [offer] = sweep(redis_url, clock.now()).offers  # and it is offered, degraded or not
    assert offer.member == f"cb:{callback_id}"


def test_a_caller_with_a_callback_booked_can_keep_raise_or_cancel_it(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    callback_id = booked(twilio, sync_redis)

    again = twilio.call(CALLER, MAIN_LINE)
    menu = again.press(again.start(), "2")
    assert "We have a call back booked for you" in menu.text
    kept = again.press(menu, "1")
    assert kept.verbs == ["Say", "Hangup"]

    worse = twilio.call(CALLER, MAIN_LINE)
    raised = worse.press(worse.press(worse.start(), "2"), "2")
    assert "moved your call back up" in raised.text
    assert callback(sync_redis, callback_id)["priority"] == "2"

    cancel = twilio.call(CALLER, MAIN_LINE)
    after = cancel.press(cancel.press(cancel.start(), "2"), "3")
    assert after.said[0] == "Your call back is cancelled."
    assert "got worse" in after.text  # and the call carries on, as a caller with an open case
    assert callback(sync_redis, callback_id)["status"] == "cancelled"
    assert sync_redis.zscore(keys.queue("general"), f"cb:{callback_id}") is None


def test_a_caller_waiting_with_a_live_callback_is_offered_no_other(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    booked(twilio, sync_redis)
    again = twilio.call(CALLER, MAIN_LINE)
    question = again.press(again.start(), "2")
    assert "We have a call back booked for you" in question.text
    for _ in range(2):
        question = again.silence(question)
    enqueue = again.silence(question)  # nothing pressed: the callback stands, and they wait
    assert enqueue.verbs[-1] == "Enqueue"

    turn = again.hold(enqueue)  # nobody on duty: anyone else would be offered a callback
    assert not turn.has("Gather")
    assert "call you back" not in turn.text


def test_a_caller_who_takes_the_offer_after_their_other_call_booked_one_is_told_it_stands(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    again, enqueue = queued_medical(twilio)
    offer = again.hold(enqueue)
    assert offer.has("Gather")
    callback_id = booked(twilio, sync_redis)  # meanwhile, from another phone of the house

    told = again.press(offer, "1")

    assert told.verbs == ["Say", "Hangup"]
    assert told.said == [KEPT]
    assert again.leave_queue(enqueue, "hangup").verbs == []
    again.status("completed")
    assert sync_redis.hget(keys.CALL_OUTCOMES, "abandoned") is None
    assert sync_redis.hget(keys.call(again.sid), "status") == "callback"
    assert [str(m) for m in sync_redis.zrange(keys.CALLBACKS, 0, -1)] == [callback_id]
    assert queue_of(sync_redis, "general") == [f"cb:{callback_id}"]


def test_a_booking_that_finds_the_caller_already_has_a_callback_says_that_one_stands(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    first, first_enqueue = queued_medical(twilio)
    second = twilio.call(CALLER, MAIN_LINE)  # the same number, on another line of the house
    second_enqueue = to_queue(second, "2", "2")
    confirm = take_callback(second, second_enqueue)
    # Meanwhile the first call books one.
    assert first.press(take_callback(first, first_enqueue), "1").verbs == ["Say", "Hangup"]
    callback_id = case_of(sync_redis, first.sid)

    told = second.press(confirm, "1")

    assert told.verbs == ["Say", "Hangup"]
    assert told.said == [KEPT]
    for call in (first, second):
        call.status("completed")
    assert sync_redis.hget(keys.CALL_OUTCOMES, "abandoned") is None
    assert [str(m) for m in sync_redis.zrange(keys.CALLBACKS, 0, -1)] == [callback_id]
    assert queue_of(sync_redis, "general") == [f"cb:{callback_id}"]


def test_only_one_live_callback_per_caller(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = booked(twilio, sync_redis)
    # Another call from the same number, queued (say it came in on a line not recognising it):
    call, _ = queued_medical(twilio, "+447700900001")
    record = sync_redis.hgetall(keys.call(call.sid))

    async def convert_again() -> Booking | None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            placement = Placement.model_validate_json(record["placement"])
            return await Callbacks(client, numbers=NUMBERS).convert(
                call.sid,
                case_of(sync_redis, call.sid),
                CALLER,
                CALLER,
                placement,
                default_rules().callbacks,
                clock.now(),
            )
        finally:
            await client.aclose()

    assert asyncio.run(convert_again()) == Booking(callback=callback_id, kept=True)
    assert [str(m) for m in sync_redis.zrange(keys.CALLBACKS, 0, -1)] == [callback_id]


def supervisor(twilio: TwilioClient, redis_url: str) -> Api:
    return Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))


def test_a_supervisor_lists_reprioritises_and_cancels_callbacks_and_it_is_audited(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = booked(twilio, sync_redis)
    other = booked(twilio, sync_redis, "+447700900001")
    api = supervisor(twilio, redis_url)

    rows = api.get("/api/v1/callbacks?status=pending")
    assert {row["callback"]["id"] for row in rows} == {callback_id, other}
    raised = api.send(
        "PUT", f"/api/v1/callbacks/{callback_id}/priority", {"priority": 2, "reason": "GP asked"}
    )
    assert raised["callback"]["priority"] == 2
    refused = api.send(
        "PUT", f"/api/v1/callbacks/{callback_id}/priority", {"priority": 1, "reason": "x"}, 422
    )
    assert refused["problems"] == ["priority: Input should be greater than or equal to 2"]

    cancelled = api.send("POST", f"/api/v1/callbacks/{other}/cancel", {"reason": "duplicate"})
    assert cancelled["callback"]["status"] == "cancelled"
    again = api.send("POST", f"/api/v1/callbacks/{other}/cancel", {"reason": "again"}, 409)
    assert again == {"error": "the callback cannot be cancelled: it is cancelled already"}
    assert api.send("POST", "/api/v1/callbacks/NOPE0-NOPE0/cancel", {"reason": "x"}, 404)

    clock.advance(1201)
    [late] = api.get("/api/v1/callbacks?overdue=true")
    assert late["callback"]["id"] == callback_id  # priority 2 now: its 20 minutes are up
    actions = [entry["action"] for entry in api.get("/api/v1/audit")]
    assert actions[:2] == ["callback.cancel", "callback.priority"]

    stats = api.get("/api/v1/callbacks/statistics?window=today")
    totals: dict[str, Any] = {
        key: sum(row[key] for row in stats["figures"])
        for key in ("offered", "accepted", "cancelled")
    }
    assert totals == {"offered": 2, "accepted": 2, "cancelled": 1}


def test_a_list_of_callbacks_shows_numbers_masked_and_reading_one_whole_is_audited(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str
) -> None:
    callback_id = booked(twilio, sync_redis)
    api = supervisor(twilio, redis_url)

    [row] = api.get("/api/v1/callbacks")
    assert row["callback"]["number"] == "…" + CALLER[-3:]
    assert CALLER not in json.dumps(row)
    assert "callback.read" not in [entry["action"] for entry in api.get("/api/v1/audit")]

    detail = api.get(f"/api/v1/callbacks/{callback_id}")
    assert detail["callback"]["number"] == CALLER
    entry = api.get("/api/v1/audit")[0]  # newest first
    assert (entry["action"], entry["target"]) == ("callback.read", callback_id)


def test_a_callback_being_made_cannot_be_cancelled(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    api = supervisor(twilio, redis_url)
    refused = api.send("POST", f"/api/v1/callbacks/{callback_id}/cancel", {"reason": "x"}, 409)
    assert refused == {"error": "the callback cannot be cancelled: it is reserved"}


def test_callback_legs_need_a_signature_too(twilio: TwilioClient) -> None:
    response = twilio.post(
        "/twilio/callback/answer?cb=X&handler=h1&offer=1&leg=handler",
        {"CallSid": HANDLER_LEG},
        signature="nope",
    )
    assert response.status_code == 403
