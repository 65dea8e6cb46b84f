"""Recording (the notice, the recorded dials, Twilio's recording status callback) and the
feedback question after a handled call, through the webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import redis
from starlette.testclient import TestClient

from console.tokens import Role
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from routing.feedback import day_of
from routing.handlers import HandlerState
from tests.conftest import (
    AUTH_TOKEN,
    CALLER,
    MAIN_LINE,
    PUBLIC_BASE_URL,
    WELSH_LINE,
    make_settings,
)
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_callback_calls import (
    HANDLER_LEG,
    PATIENT_LEG,
    RECORDED,
    leg,
    offered,
    patient_first,
)
from tests.ivr.test_connecting import dial_ends, handler_answers, redirected
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml

RECORDED_CY = (
    "Mae galwadau i GIG 111 yn cael eu recordio, er mwyn eich gofal ac i wella ein gwasanaeth."
)
QUESTION = "Before you go: overall, how was your experience of our service?"
WORSE = "If you feel worse, call 111 again, or 999 in an emergency."
THANKS = f"Thank you for your answer. {WORSE} Goodbye."
GOODBYE = f"Thank you for calling NHS 111. {WORSE} Goodbye."
RECORDING_SID = "RE" + "a" * 32


def heard(call: Call) -> list[str]:
    return [said for twiml in call.heard for said in twiml.said]


# The notice.


def test_callers_hear_that_calls_are_recorded_after_the_emergency_screen_never_before(
    twilio: TwilioClient,
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    screen = call.start()
    assert RECORDED not in screen.said  # nothing between the caller and the emergency key

    reason = call.press(screen, "2")

    assert reason.said[0] == RECORDED
    assert reason.first("Gather").get("action", "").startswith(f"{PUBLIC_BASE_URL}/twilio/ivr/")
    assert "reason" in reason.first("Gather").get("action", "")


def test_an_emergency_caller_is_not_held_up_by_the_notice(
    twilio: TwilioClient, staff: Staff
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "1")
    assert RECORDED not in heard(call)


def test_a_welsh_caller_hears_the_notice_in_welsh(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, WELSH_LINE)
    screen = call.press(call.start(), "1")  # Welsh: then the emergency screen
    assert RECORDED_CY not in screen.said

    reason = call.press(screen, "2")
    assert reason.said[0] == RECORDED_CY
    assert RECORDED not in heard(call)


# What is recorded.


def recording_url(dial: Any) -> dict[str, str]:
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallbackEvent") == "completed absent"
    assert dial.get("recordingStatusCallbackMethod") == "POST"
    url = dial.get("recordingStatusCallback", "")
    assert url.startswith(f"{PUBLIC_BASE_URL}/twilio/recording?")
    return {key: value[0] for key, value in parse_qs(urlsplit(url).query).items()}


def connected(twilio: TwilioClient, staff: Staff, *digits: str) -> tuple[Call, Twiml]:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, *digits)
    connect = redirected(twilio, call, "h1")
    handler_answers(twilio, call, connect)
    return call, connect


def test_a_callers_conversation_with_their_handler_is_recorded_on_two_channels(
    twilio: TwilioClient, staff: Staff
) -> None:
    _, connect = connected(twilio, staff, "2", "1")
    assert recording_url(connect.first("Dial")) == {"kind": "call", "handler": "h1"}


def test_an_emergency_put_through_to_the_dispatch_line_is_recorded(
    twilio: TwilioClient,
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "1")  # nobody on duty: the dispatch line at once
    assert dial.first("Number").text is not None
    assert recording_url(dial.first("Dial")) == {"kind": "dispatch"}


def test_a_callback_is_recorded(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    handler_first = leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")
    assert recording_url(handler_first.first("Dial")) == {
        "kind": "callback",
        "handler": "h1",
        "cb": callback_id,
    }
    # Its leg is known as the callback's, for a recording found only in Twilio's list.
    assert sync_redis.get(keys.callback_leg(HANDLER_LEG)) == callback_id


@pytest.fixture
def unrecorded(redis_url: str, clock: VirtualClock) -> Iterator[TwilioClient]:
    settings = make_settings(redis_url, record_calls=False)
    with TestClient(create_app(settings, clock=clock)) as client:
        yield TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)


def test_with_recording_off_nothing_is_recorded(unrecorded: TwilioClient, staff: Staff) -> None:
    _, connect = connected(unrecorded, staff, "2", "1")
    dial = connect.first("Dial")
    assert dial.get("record") is None
    assert dial.get("recordingStatusCallback") is None


# Twilio's recording status callback.


def recording_status(
    twilio: TwilioClient, dial: Any, call_sid: str, **params: str
) -> tuple[int, str]:
    url = dial.get("recordingStatusCallback", "")
    started = format_datetime(datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC))
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{RECORDING_SID}",
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
        "RecordingChannels": "2",
        "RecordingStartTime": started,
        "RecordingSource": "DialVerb",
        "ErrorCode": "0",
    } | params
    response = twilio.post(url, form, signature=params.pop("signature", None))
    return response.status_code, response.text


def kept(sync_redis: redis.Redis, sid: str = RECORDING_SID) -> dict[str, Any] | None:
    found = sync_redis.get(keys.recording(sid))
    return json.loads(str(found)) if found else None


def test_a_recording_is_kept_with_the_case_the_callers_last_digits_and_the_handler(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis
) -> None:
    call, connect = connected(twilio, staff, "2", "1")
    status, _ = recording_status(twilio, connect.first("Dial"), call.sid)

    assert status == 200
    recording = kept(sync_redis)
    assert recording is not None
    case_id = sync_redis.hget(keys.call(call.sid), "case_id")
    assert (recording["case_id"], recording["digits"], recording["handler"]) == (
        case_id,
        CALLER[-3:],
        "h1",
    )
    assert (recording["kind"], recording["queue"], recording["duration"]) == ("call", "general", 42)
    assert recording["started"] == datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC).timestamp()
    assert CALLER not in json.dumps(recording)  # the last digits only
    for index in (
        keys.RECORDINGS,
        keys.recordings_by("case", str(case_id)),
        keys.recordings_by("handler", "h1"),
        keys.recordings_by("digits", CALLER[-3:]),
    ):
        assert sync_redis.zrange(index, 0, -1) == [RECORDING_SID]

    again, _ = recording_status(twilio, connect.first("Dial"), call.sid)  # Twilio retries
    assert again == 200
    assert sync_redis.zcard(keys.RECORDINGS) == 1


def test_an_unsigned_recording_callback_is_refused_and_nothing_kept(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis
) -> None:
    call, connect = connected(twilio, staff, "2", "1")
    status, _ = recording_status(twilio, connect.first("Dial"), call.sid, signature="forged")
    assert status == 403
    assert kept(sync_redis) is None


def test_a_failed_recording_is_kept_as_failed_and_the_call_goes_on(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis
) -> None:
    call, connect = connected(twilio, staff, "2", "1")
    status, _ = recording_status(
        twilio,
        connect.first("Dial"),
        call.sid,
        RecordingStatus="absent",
        RecordingDuration="0",
    )
    assert status == 200
    recording = kept(sync_redis)
    assert recording is not None
    assert recording["status"] == "absent"
    assert sync_redis.hget(keys.call(call.sid), "status") == "connected"


def test_a_callbacks_recording_is_kept_with_its_case(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    handler_first = leg(twilio, "/twilio/callback/answer", callback_id, 1, "handler")
    recording_status(twilio, handler_first.first("Dial"), HANDLER_LEG)
    recording = kept(sync_redis)
    assert recording is not None
    assert (recording["kind"], recording["case_id"], recording["digits"]) == (
        "callback",
        callback_id,
        CALLER[-3:],
    )


# The feedback question.


def asking(twilio: TwilioClient, redis_url: str, **feedback: object) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = api.get("/api/v1/rules")["rules"]
    rules["feedback"] = {"share": 1} | feedback
    version = api.send("POST", "/api/v1/rules/versions", {"rules": rules}, 201)
    api.send("POST", f"/api/v1/rules/versions/{version['number']}/activate", {"reason": "test"})


def counts(sync_redis: redis.Redis, clock: VirtualClock) -> dict[str, str]:
    return dict(sync_redis.hgetall(keys.feedback_day(day_of(clock.now()))))  # type: ignore[arg-type]


def test_a_caller_whose_handler_ends_the_call_is_asked_and_their_answer_counted_once(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    asking(twilio, redis_url)
    call, connect = connected(twilio, staff, "2", "1")

    question = dial_ends(twilio, call, connect, "completed")

    assert question.verbs == ["Gather", "Say", "Hangup"]
    gather = question.first("Gather")
    assert (gather.get("numDigits"), gather.get("input")) == ("1", "dtmf")
    assert gather.get("action", "").startswith(f"{PUBLIC_BASE_URL}/twilio/feedback?")
    assert question.said[0].startswith(QUESTION)
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"  # the handler is free of it
    assert counts(sync_redis, clock) == {
        "asked|all": "1",
        "asked|queue:general": "1",
        "asked|handler:h1": "1",
    }

    thanks = call.press(question, "2")
    assert thanks.verbs == ["Say", "Hangup"]
    assert thanks.said == [THANKS]
    again = call.press(question, "2")  # a repeated request counts nothing more
    assert again.verbs == ["Say", "Hangup"]
    assert counts(sync_redis, clock) == {
        "asked|all": "1",
        "asked|queue:general": "1",
        "asked|handler:h1": "1",
        "good|all": "1",
        "good|queue:general": "1",
        "good|handler:h1": "1",
    }


def test_a_key_that_is_no_answer_asks_once_more_then_says_goodbye_counting_nothing(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    asking(twilio, redis_url)
    call, connect = connected(twilio, staff, "2", "1")
    question = dial_ends(twilio, call, connect, "completed")

    again = call.press(question, "9")
    assert again.verbs == ["Gather", "Say", "Hangup"]
    assert again.said[0] == "Sorry, that isn't one of the options."
    goodbye = call.press(again, "0")
    assert goodbye.verbs == ["Say", "Hangup"]
    assert goodbye.said == [GOODBYE]
    assert set(counts(sync_redis, clock)) == {
        "asked|all",
        "asked|queue:general",
        "asked|handler:h1",
    }


def test_a_welsh_caller_is_asked_in_welsh(
    twilio: TwilioClient, staff: Staff, redis_url: str
) -> None:
    asking(twilio, redis_url)
    staff("h1", state=HandlerState.AVAILABLE, skills={"welsh": 3})
    call = twilio.call(CALLER, WELSH_LINE)
    to_queue(call, "1", "2", "1")
    connect = redirected(twilio, call, "h1")
    handler_answers(twilio, call, connect)
    question = dial_ends(twilio, call, connect, "completed")
    assert question.said[0].startswith("Cyn i chi fynd")


@pytest.mark.parametrize(
    "feedback",
    [{"share": 0}, {"queues": ["dental"]}],
    ids=["nobody", "another-queue"],
)
def test_callers_the_rules_do_not_ask_are_not_asked(
    twilio: TwilioClient,
    staff: Staff,
    sync_redis: redis.Redis,
    redis_url: str,
    clock: VirtualClock,
    feedback: dict[str, object],
) -> None:
    asking(twilio, redis_url, **feedback)
    call, connect = connected(twilio, staff, "2", "1")
    assert dial_ends(twilio, call, connect, "completed").verbs == []
    assert counts(sync_redis, clock) == {}


def test_an_emergency_caller_is_not_asked_unless_the_rules_say_so(
    twilio: TwilioClient, staff: Staff, redis_url: str
) -> None:
    asking(twilio, redis_url)
    call, connect = connected(twilio, staff, "1")
    assert dial_ends(twilio, call, connect, "completed").verbs == []

    asking(twilio, redis_url, after_emergency=True)
    call, connect = connected(twilio, staff, "1")
    assert dial_ends(twilio, call, connect, "completed").verbs == ["Gather", "Say", "Hangup"]


def test_in_degraded_mode_nobody_is_asked_unless_the_rules_say_so(
    twilio: TwilioClient, staff: Staff, redis_url: str
) -> None:
    asking(twilio, redis_url)
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    api.send("PUT", "/api/v1/mode", {"mode": "degraded", "reason": "drill"})
    call, connect = connected(twilio, staff, "2", "1")
    assert dial_ends(twilio, call, connect, "completed").verbs == []

    asking(twilio, redis_url, in_degraded=True)
    call, connect = connected(twilio, staff, "2", "1")
    assert dial_ends(twilio, call, connect, "completed").verbs == ["Gather", "Say", "Hangup"]


def test_a_caller_who_hung_up_first_is_not_asked(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    asking(twilio, redis_url)
    call, connect = connected(twilio, staff, "2", "1")
    action = connect.first("Dial").get("action", "")
    over = twilio.twiml(action, call.params(DialCallStatus="completed", CallStatus="completed"))
    assert over.verbs == []
    assert counts(sync_redis, clock) == {}


def test_a_patient_rung_first_for_a_callback_is_asked_when_the_handler_hangs_up(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    patient_first(twilio, redis_url)
    asking(twilio, redis_url)
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    answered = leg(
        twilio, "/twilio/callback/answer", callback_id, 1, "patient", To=CALLER, AnsweredBy="human"
    )
    handler_leg = {"CallSid": HANDLER_LEG, "ParentCallSid": PATIENT_LEG, "To": "client:h1"}
    twilio.twiml(answered.first("Client").get("url", ""), handler_leg)

    question = leg(
        twilio,
        "/twilio/callback/result",
        callback_id,
        1,
        "patient",
        DialCallStatus="completed",
        DialBridged="true",
    )

    assert question.verbs == ["Gather", "Say", "Hangup"]
    assert sync_redis.hget(keys.callback(callback_id), "status") == "done"
    assert counts(sync_redis, clock)["asked|handler:h1"] == "1"


def test_an_answer_after_midnight_is_counted_on_the_day_it_was_asked(
    twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    asking(twilio, redis_url)
    call, connect = connected(twilio, staff, "2", "1")
    midnight = datetime(2026, 12, 7, tzinfo=ZoneInfo("Europe/London")).timestamp()
    clock.set(midnight - 10)
    question = dial_ends(twilio, call, connect, "completed")
    clock.set(midnight + 10)
    call.press(question, "5")

    asked_on = dict(sync_redis.hgetall(keys.feedback_day("2026-12-06")))
    assert asked_on["asked|all"] == asked_on["very_poor|all"] == "1"
    assert sync_redis.exists(keys.feedback_day("2026-12-07")) == 0


def test_a_caller_who_never_answers_the_screen_hears_the_notice_as_they_are_queued(
    twilio: TwilioClient,
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = call.start()
    for _ in range(3):
        twiml = call.silence(twiml)

    assert twiml.has("Enqueue")
    assert twiml.said[-1] == RECORDED
    assert heard(call).count(RECORDED) == 1


def test_a_caller_who_answers_the_screen_in_the_retry_loop_hears_the_notice(
    twilio: TwilioClient,
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    # The screen as the safe route asks it (a webhook failed): the retry loop's own URL.
    reason = call._got(twilio.twiml("/twilio/retry?locale=en-GB&turn=1", call.params(Digits="2")))

    assert reason.said[0] == RECORDED
    assert "reason" in reason.first("Gather").get("action", "")
    next_turn = "/twilio/retry?locale=en-GB&screen=not_emergency&turn=2"
    again = call._got(twilio.twiml(next_turn, call.params(Digits="2")))
    assert RECORDED not in again.said  # told once
