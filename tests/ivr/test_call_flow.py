"""A patient's call from ring to queue, driven as Twilio drives it, asserted on TwiML and Redis."""

from __future__ import annotations

import json

import pytest
import redis

from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, DISPATCH, MAIN_LINE, WELSH_LINE
from tests.staff import Staff, set_state
from tests.twilio import Call, TwilioClient, Twiml
from workers.job_queues import JobQueue
from workers.job_queues import queue_of as job_queue

ALL_SKILLS = {"clinical": 3, "mental_health": 3, "dental": 3, "welsh": 3}

EMERGENCY_WORDS = (
    "unconscious, not breathing, has chest pain, severe bleeding, signs of a stroke, "
    "a severe allergic reaction or a seizure, press 1"
)


def queue_of(sync_redis: redis.Redis, queue: str) -> list[str]:
    return [str(member) for member in sync_redis.zrange(keys.queue(queue), 0, -1)]


def to_queue(call: Call, *digits: str) -> Twiml:
    twiml = call.start()
    for key in digits:
        twiml = call.press(twiml, key)
    return twiml


def test_the_emergency_screen_comes_first_and_keys_work_during_it(twilio: TwilioClient) -> None:
    twiml = twilio.call(CALLER, MAIN_LINE).start()

    assert twiml.verbs == ["Gather", "Redirect"]
    gather = twiml.first("Gather")
    assert gather.get("action", "").startswith("https://lifeline.example.org/twilio/ivr/emergency")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("numDigits") == "1"
    assert gather.get("hints") == "yes, no"
    # The prompt is inside the Gather, so a key pressed while it plays is taken at once.
    assert [child.tag for child in gather] == ["Say", "Say"]
    assert EMERGENCY_WORDS in " ".join(child.text or "" for child in gather)
    assert gather.find("Say").get("voice") == "Polly.Amy"  # type: ignore[union-attr]


def test_the_call_record_is_created_once_per_call_sid(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    call.start()
    call.start()  # Twilio retried the request

    record = sync_redis.hgetall(keys.call(call.sid))
    assert record["status"] == "ivr"
    assert record["caller"] == CALLER
    assert len(record["case_id"]) == 11
    assert sync_redis.hget(keys.CALL_OUTCOMES, "received") == "1"


def test_an_emergency_with_no_handler_on_duty_goes_straight_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = to_queue(call, "1")

    assert twiml.verbs == ["Say", "Dial"]
    assert twiml.first("Number").text == DISPATCH
    assert twiml.first("Dial").get("answerOnBridge") == "true"
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    assert sync_redis.hget(keys.CALL_OUTCOMES, "dispatched") == "1"


@pytest.mark.parametrize("number", ["+12345", "+0447700900123"])
def test_an_emergency_from_a_number_the_clinical_system_would_refuse_still_goes_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, number: str
) -> None:
    call = twilio.call(number, MAIN_LINE)
    twiml = to_queue(call, "1")

    assert twiml.verbs == ["Say", "Dial"]
    assert twiml.first("Number").text == DISPATCH
    assert sync_redis.hget(keys.call(call.sid), "status") == "dispatched"
    connection = redis.Redis.from_url(redis_url)
    try:
        [job] = job_queue(JobQueue.CLINICAL, connection).jobs
    finally:
        connection.close()
    case = json.loads(job.args[0])
    assert (case["kind"], case["caller_number"]) == ("ambulance", "")  # sent, without it


def test_no_input_is_asked_again_twice_then_routed_on(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    screen = call.press(call.start(), "2")
    assert "why you are calling" in screen.text

    again = call.silence(screen)
    assert again.said[0] == "Sorry, we didn't hear a choice."
    assert "why you are calling" in again.text
    third = call.silence(again)
    assert "why you are calling" in third.text

    routed = call.silence(third)
    assert routed.first("Enqueue").text == "general"
    assert "We'll put you through to a call handler." in routed.said
    record = sync_redis.hgetall(keys.call(call.sid))
    assert '"reason":"unknown"' in record["answers"]


def test_an_invalid_key_is_explained_and_asked_again(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = call.press(call.press(call.start(), "2"), "9")
    assert twiml.said[0] == "Sorry, that isn't one of the options."
    assert twiml.first("Gather").get("action", "").endswith("attempt=1")


def test_silence_at_the_emergency_screen_is_routed_as_urgent_not_hung_up(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = call.start()
    for _ in range(3):
        twiml = call.silence(twiml)

    assert twiml.first("Enqueue").text == "general"
    assert sync_redis.hget(keys.call(call.sid), "priority") == "2"
    assert not any(t.has("Hangup") for t in call.heard)


def test_a_caller_with_an_open_case_is_asked_if_worse_and_worse_raises_priority(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", skills=ALL_SKILLS)
    to_queue(twilio.call(CALLER, MAIN_LINE), "2", "1")

    again = twilio.call(CALLER, MAIN_LINE)
    question = again.press(again.start(), "2")
    assert "got worse" in question.text

    queued = again.press(question, "1")
    assert queued.first("Enqueue").text == "clinical"
    assert sync_redis.hget(keys.call(again.sid), "priority") == "2"


def test_calling_back_about_a_case_that_is_not_worse_keeps_standard_priority(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    question = call.press(call.press(call.start(), "2"), "5")
    assert "got worse" in question.text
    call.press(question, "2")
    assert sync_redis.hget(keys.call(call.sid), "priority") == "3"


def test_a_welsh_line_offers_welsh_and_a_welsh_caller_hears_welsh_to_the_end(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", skills=ALL_SKILLS)
    call = twilio.call(CALLER, WELSH_LINE)
    choice = call.start()
    says = list(choice.first("Gather"))
    assert [say.get("language") for say in says] == ["cy-GB", "en-GB"]
    assert choice.first("Gather").get("input") == "dtmf"

    screen = call.press(choice, "1")
    assert screen.first("Gather").get("input") == "dtmf"  # no Welsh speech recognition
    assert "pwyswch 1" in screen.text
    menu = call.press(screen, "2")
    queued = call.press(menu, "1")
    for twiml in (screen, menu, queued):
        assert {say.get("voice") for say in twiml.root.iter("Say")} == {"Polly.Gwyneth"}
    assert queued.first("Enqueue").text == "welsh"
    hold = call.hold(queued)
    assert {say.get("language") for say in hold.root.iter("Say")} == {"cy-GB"}


def test_with_no_skilled_handler_on_duty_a_caller_overflows_to_the_general_queue(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1")  # on duty, but no dental skill
    call = twilio.call(CALLER, MAIN_LINE)
    assert to_queue(call, "2", "3").first("Enqueue").text == "general"
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["queue"], record["priority"]) == ("general", "4")


def test_a_waiting_caller_moves_when_the_last_skilled_handler_goes(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("dentist", skills={"dental": 3})
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "3")
    assert sync_redis.zrange(keys.queue("dental"), 0, -1) == [call.sid]
    arrival = sync_redis.hget(keys.call(call.sid), "arrival")

    set_state(redis_url, "dentist", HandlerState.OFFLINE, clock.now())
    call.hold(enqueue)

    assert sync_redis.zrange(keys.queue("general"), 0, -1) == [call.sid]
    assert sync_redis.hget(keys.call(call.sid), "arrival") == arrival


def test_choosing_english_on_a_welsh_line_continues_in_english(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, WELSH_LINE)
    screen = call.press(call.start(), "2")
    assert screen.first("Gather").get("input") == "dtmf speech"
    assert EMERGENCY_WORDS in screen.text


def test_a_retried_menu_answer_queues_the_call_once(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    menu = call.press(call.start(), "2")
    first = call.press(menu, "1")
    clock.advance(5)
    second = call.press(menu, "1")

    assert first.xml == second.xml
    assert queue_of(sync_redis, "general") == [call.sid]
    assert sync_redis.hget(keys.CALL_OUTCOMES, "queued") == "1"
    assert float(sync_redis.hget(keys.call(call.sid), "arrival") or 0) == clock.now() - 5
