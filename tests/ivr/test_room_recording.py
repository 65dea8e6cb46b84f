"""A warm transfer's room is recorded: whoever's join starts it (the caller, the handler or the
dispatcher) asks Twilio to record it, and Twilio's conference recording callback, which names no
call, is kept with the caller's case, the handler who sent them on, and the kind `room`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import redis
from starlette.testclient import TestClient

from console.tokens import Role
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.transfers import room_of
from tests.conftest import AUTH_TOKEN, CALLER, DISPATCH, PUBLIC_BASE_URL, make_settings
from tests.console.test_api import RULES, Api, token_for
from tests.ivr.test_clinician_callbacks import handler_api, on_a_call
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml

RECORDING_SID = "RE" + "b" * 32
CONFERENCE_SID = "CF" + "1" * 32
DISPATCHER_LEG = "CA" + "c" * 32
HANDLER_LEG = "CA" + "d" * 32


def warm_to_dispatch(twilio: TwilioClient, redis_url: str) -> None:
    """The rules say the handler stays on until the dispatcher answers."""
    supervisor = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
    rules = supervisor.get("/api/v1/rules")["rules"]
    rules["onward"]["dispatch_warm"] = True
    number = supervisor.send("POST", "/api/v1/rules/versions", {"rules": rules}, 201)["number"]
    supervisor.send("POST", f"/api/v1/rules/versions/{number}/activate", {})


def rooms_of_a_warm_transfer(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, to: str
) -> tuple[Call, dict[str, Twiml]]:
    """h1 sends their caller on warm (`to` a clinician or the dispatch line): the caller's call,
    and the TwiML each participant that can start the room joins it with, by who they are."""
    if to == "dispatch":
        warm_to_dispatch(twilio, redis_url)
    call, connect = on_a_call(twilio, "h1")
    body = {"to": to, "warm": True} | ({"urgency": "immediate"} if to == "clinician" else {})
    handler_api(twilio, redis_url, "h1").send("POST", "/api/v1/handlers/h1/send-on", body, 202)
    # The job moves the handler's leg into the room, then the caller's Dial action follows.
    sync_redis.hset(keys.call(call.sid), "handler_moving", "1")
    query = urlencode({"to": to, "warm": 1, "call": call.sid, "handler": "h1"})
    handler = twilio.twiml(
        f"/twilio/transfer/handler-leg?{query}",
        {"CallSid": HANDLER_LEG, "From": "+441134960000", "To": "client:h1"},
    )
    action = connect.first("Dial").get("action", "")
    caller = call._got(twilio.twiml(action, call.params(DialCallStatus="completed")))
    rooms = {"handler": handler, "caller": caller}
    if to == "dispatch":
        rooms["dispatcher"] = twilio.twiml(
            f"/twilio/transfer/dispatcher?call={call.sid}",
            {"CallSid": DISPATCHER_LEG, "From": "+441134960000", "To": DISPATCH},
        )
    for twiml in rooms.values():
        assert twiml.first("Conference").text == room_of(call.sid)
    return call, rooms


def recording_query(conference: Any) -> dict[str, str]:
    """The room's recording attributes, checked; the query of its recording callback."""
    assert conference.get("record") == "record-from-start"
    assert conference.get("recordingStatusCallbackMethod") == "POST"
    assert conference.get("recordingStatusCallbackEvent") == "completed absent"
    url = conference.get("recordingStatusCallback", "")
    assert url.startswith(f"{PUBLIC_BASE_URL}/twilio/recording?")
    return {key: value[0] for key, value in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    ("to", "who"),
    [
        ("clinician", "caller"),
        ("clinician", "handler"),
        ("dispatch", "caller"),
        ("dispatch", "handler"),
        ("dispatch", "dispatcher"),
    ],
)
def test_whoever_starts_a_warm_transfers_room_asks_for_it_to_be_recorded(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    to: str,
    who: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, rooms = rooms_of_a_warm_transfer(twilio, sync_redis, redis_url, to)

    query = recording_query(rooms[who].first("Conference"))

    # The dispatcher's answer reads nothing more to name the handler: the recording, when
    # kept, finds who sent the caller on (test_a_rooms_recording_whose_url_names_no_handler_...).
    named = {} if who == "dispatcher" else {"handler": "h1"}
    assert query == {"kind": "room", "call": call.sid} | named


@pytest.fixture
def unrecorded(redis_url: str, clock: VirtualClock) -> Iterator[TwilioClient]:
    settings = make_settings(redis_url, record_calls=False)
    with TestClient(create_app(settings, clock=clock)) as client:
        yield TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)


def test_with_recording_off_the_room_is_not_recorded(
    unrecorded: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    _, rooms = rooms_of_a_warm_transfer(unrecorded, sync_redis, redis_url, "dispatch")

    for twiml in rooms.values():
        room = twiml.first("Conference")
        assert room.get("record") is None
        assert room.get("recordingStatusCallback") is None


def conference_recording_status(twilio: TwilioClient, url: str, **params: str) -> tuple[int, Twiml]:
    """Twilio's recording status callback for a conference: no CallSid, the room's SID."""
    started = format_datetime(datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC))
    form = {
        "AccountSid": "AC" + "0" * 32,
        "ConferenceSid": CONFERENCE_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{RECORDING_SID}",
        "RecordingStatus": "completed",
        "RecordingDuration": "95",
        "RecordingChannels": "1",
        "RecordingStartTime": started,
        "RecordingSource": "StartConferenceRecordingAPI",
        "ErrorCode": "0",
    } | params
    response = twilio.post(url, form)
    assert response.headers["content-type"].startswith("application/xml")
    return response.status_code, Twiml(response.text)  # valid TwiML, whatever happened


def kept(sync_redis: redis.Redis) -> dict[str, Any] | None:
    found = sync_redis.get(keys.recording(RECORDING_SID))
    return json.loads(str(found)) if found else None


def test_a_rooms_recording_is_kept_with_the_callers_case_the_handler_and_the_kind(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, rooms = rooms_of_a_warm_transfer(twilio, sync_redis, redis_url, "clinician")
    url = rooms["caller"].first("Conference").get("recordingStatusCallback", "")

    status, answer = conference_recording_status(twilio, url)

    assert (status, answer.verbs) == (200, [])
    recording = kept(sync_redis)
    assert recording is not None
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert {
        key: recording[key]
        for key in ("call_sid", "case_id", "digits", "handler", "kind", "channels", "duration")
    } == {
        "call_sid": call.sid,
        "case_id": case_id,
        "digits": CALLER[-3:],
        "handler": "h1",
        "kind": "room",
        "channels": 1,
        "duration": 95,
    }
    assert recording["status"] == "completed"
    for index in (keys.recordings_by("case", case_id), keys.recordings_by("handler", "h1")):
        assert sync_redis.zrange(index, 0, -1) == [RECORDING_SID]


def test_a_rooms_recording_whose_url_names_no_handler_takes_the_one_who_sent_the_caller_on(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = rooms_of_a_warm_transfer(twilio, sync_redis, redis_url, "dispatch")

    # As a dispatcher's room TwiML made without Redis names it: the caller's call, no handler.
    status, _ = conference_recording_status(twilio, f"/twilio/recording?kind=room&call={call.sid}")

    assert status == 200
    recording = kept(sync_redis)
    assert recording is not None
    assert (recording["call_sid"], recording["handler"]) == (call.sid, "h1")


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/twilio/recording?kind=room", {}),  # whose room? the URL does not say
        ("/twilio/recording?kind=room&call=CA-not-a-call", {}),
        ("/twilio/recording?kind=call", {}),  # a Dial's recording always names its call
        ("/twilio/recording?kind=room&call=CA" + "a" * 32, {"RecordingSid": "RE-bad"}),
        ("/twilio/recording?kind=room&call=CA" + "a" * 32, {"RecordingDuration": "-3"}),
    ],
    ids=["no-call", "bad-call", "dial-without-callsid", "bad-recording-sid", "bad-duration"],
)
def test_a_recording_callback_that_cannot_be_tied_to_a_call_is_refused_with_valid_twiml(
    twilio: TwilioClient, sync_redis: redis.Redis, url: str, params: dict[str, str]
) -> None:
    status, answer = conference_recording_status(twilio, url, **params)

    assert (status, answer.verbs) == (200, [])
    assert kept(sync_redis) is None
    assert sync_redis.zcard(keys.RECORDINGS) == 0
