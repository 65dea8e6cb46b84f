"""Recording a conference as Twilio does: `<Conference record="record-from-start">` records the
room, mixed on one channel, from the moment it starts until it ends; its status callback names
the room and no call; the recording is listed, fetched, played and deleted like any other."""

from __future__ import annotations

import io
import re
import time
import wave
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from tests.sim.servers import ACCOUNT_SID, AUTH_TOKEN, AppUnderTest, Received, SimClient, twiml

ROOM = "transfer-CA2"
CALLER = "+447700900123"
HANDLER = "+447700900777"
RECORDINGS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"
RECORDED = (
    'record="record-from-start" recordingStatusCallback="/room-recording?case=42"'
    ' recordingStatusCallbackEvent="in-progress completed absent"'
)


def room(label: str, attributes: str = "") -> str:
    return twiml(
        f'<Dial><Conference participantLabel="{label}" beep="false" {attributes}>'
        f"{ROOM}</Conference></Dial>"
    )


def serve_room(app: AppUnderTest, caller: str = "", handler: str = "") -> None:
    """The caller and the handler each join the room with their own attributes."""
    attributes = {CALLER: ("caller", caller), HANDLER: ("handler", handler)}

    def voice(request: Received) -> str:
        label, given = attributes[request.params["From"]]
        return room(label, given)

    app.on("/twilio/voice", voice)
    app.on("/room-recording", "")


def both_in_the_room(sim: SimClient, wait_between: float = 0.0) -> tuple[str, str]:
    """The caller joins, then (`wait_between` real seconds later) the handler: both CallSids."""
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")
    time.sleep(wait_between)
    handler = sim.call(caller=HANDLER)
    sim.wait_event(handler, "conference_join")
    return caller, handler


def room_over(sim: SimClient, *legs: str) -> dict[str, Any]:
    for leg in legs:
        sim.hang_up(leg)
    for leg in legs:
        sim.wait_ended(leg)
    return sim.conference(ROOM)


def recording_events(conference: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for event in conference["events"] if event["type"] == "recording"]


def media(url: str) -> httpx.Response:
    return httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN))


def test_a_recorded_room_is_recorded_from_its_start_to_its_end_on_one_channel(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    serve_room(app, caller=RECORDED, handler=RECORDED)
    # The caller waits alone 50 simulated seconds (hold music, not recorded) for the handler.
    caller, handler = both_in_the_room(sim, wait_between=1.0)
    started = app.wait_for("/room-recording")[0]
    conference = room_over(sim, handler, caller)

    _, completed = app.wait_for("/room-recording", count=2)
    params = completed.params
    assert started.params["RecordingStatus"] == "in-progress"
    assert "RecordingDuration" not in started.params
    assert params["RecordingStatus"] == "completed"
    assert int(params["RecordingDuration"]) < 40  # the room's talk, not the wait before it
    recording_sid = params["RecordingSid"]
    assert re.fullmatch(r"RE[0-9a-f]{32}", recording_sid)
    assert started.params["RecordingSid"] == recording_sid
    assert params["ConferenceSid"] == conference["sid"]
    assert "CallSid" not in params  # a conference's recording belongs to no one call
    assert params["AccountSid"] == ACCOUNT_SID
    assert params["RecordingUrl"] == f"{sim.base_url}{RECORDINGS}/{recording_sid}"
    assert (params["RecordingChannels"], params["ErrorCode"]) == ("1", "0")
    assert params["RecordingSource"] == "StartConferenceRecordingAPI"
    assert "RecordingTrack" not in params
    start = parsedate_to_datetime(params["RecordingStartTime"])
    assert abs(datetime.now(UTC) - start) < timedelta(minutes=1)
    assert completed.url == app.url("/room-recording?case=42")
    assert completed.signature_valid
    assert [(e["type"], e.get("status")) for e in conference["events"] if e["type"] != "join"][
        :2
    ] == [("start", None), ("recording", "in-progress")]
    assert [e["recording_sid"] for e in recording_events(conference)] == [recording_sid] * 2
    assert sim.events(caller, "recording") == []  # the room's, on the room's events


def test_the_recording_is_listed_fetched_played_and_deleted_through_the_twilio_library(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    serve_room(app, caller=RECORDED, handler=RECORDED)
    caller, handler = both_in_the_room(sim)
    conference = room_over(sim, caller, handler)
    [*_, completed] = app.wait_for("/room-recording", count=2)
    recording_sid = completed.params["RecordingSid"]

    recording = rest.recordings(recording_sid).fetch()

    assert (recording.conference_sid, recording.call_sid) == (conference["sid"], None)
    assert (recording.status, recording.channels) == ("completed", 1)
    assert recording.source == "StartConferenceRecordingAPI"
    assert recording.duration == completed.params["RecordingDuration"]
    assert [r.sid for r in rest.recordings.list()] == [recording_sid]
    assert [r.sid for r in rest.recordings.list(conference_sid=conference["sid"])] == [
        recording_sid
    ]
    assert rest.recordings.list(call_sid=caller) == []
    assert [r.sid for r in rest.conferences(conference["sid"]).recordings.list()] == [recording_sid]
    in_room = rest.conferences(conference["sid"]).recordings(recording_sid).fetch()
    assert in_room.conference_sid == conference["sid"]
    audio = media(recording.media_url)
    assert (audio.status_code, audio.headers["content-type"]) == (200, "audio/x-wav")
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)  # everyone mixed

    assert rest.recordings(recording_sid).delete() is True
    assert media(recording.media_url).status_code == 404
    assert rest.conferences(conference["sid"]).recordings.list() == []


@pytest.mark.parametrize(
    ("caller", "handler", "recorded"),
    [
        ("", RECORDED, True),  # the handler's join starts the room: theirs count
        (RECORDED, "", False),  # the caller's are the first, but the room starts without them
        ("", "", False),
        ('record="do-not-record"', "", False),
    ],
    ids=["starter-records", "first-only-records", "nobody-records", "do-not-record"],
)
def test_the_participant_whose_join_starts_the_room_decides_whether_it_is_recorded(
    app: AppUnderTest, sim: SimClient, rest: Client, caller: str, handler: str, recorded: bool
) -> None:
    serve_room(app, caller=caller, handler=handler)
    conference = room_over(sim, *both_in_the_room(sim))

    assert bool(recording_events(conference)) == recorded
    if recorded:
        app.wait_for("/room-recording", count=2)
    assert [r.conference_sid for r in rest.recordings.list()] == (
        [conference["sid"]] if recorded else []
    )


def test_a_room_that_never_starts_records_nothing(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    serve_room(app, caller=RECORDED)
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")

    conference = room_over(sim, caller)

    assert recording_events(conference) == []
    assert rest.recordings.list() == []
    assert app.to("/room-recording") == []


def test_a_recording_fault_leaves_the_room_as_it_is_and_the_recording_absent(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.faults(recordings={"count": 1})
    serve_room(app, caller=RECORDED, handler=RECORDED)
    caller, handler = both_in_the_room(sim)
    assert sim.conference(ROOM)["status"] == "in-progress"
    room_over(sim, caller, handler)

    [*_, told] = app.wait_for("/room-recording", count=2)

    assert (told.params["RecordingStatus"], told.params["ErrorCode"]) == ("absent", "16102")
    recording = rest.recordings(told.params["RecordingSid"]).fetch()
    assert (recording.status, recording.error_code) == ("absent", 16102)
    assert media(told.params["RecordingUrl"]).status_code == 404


def test_the_callback_goes_by_get_when_asked_and_only_for_the_events_asked(
    app: AppUnderTest, sim: SimClient
) -> None:
    by_get = (
        'record="record-from-start" recordingStatusCallback="/room-recording"'
        ' recordingStatusCallbackMethod="GET"'
    )  # the default event: completed only
    serve_room(app, caller=by_get, handler=by_get)
    room_over(sim, *both_in_the_room(sim))

    [told] = app.wait_for("/room-recording")

    assert (told.method, told.params["RecordingStatus"]) == ("GET", "completed")
    time.sleep(0.2)
    assert len(app.to("/room-recording")) == 1


@pytest.mark.parametrize(
    "attribute",
    [
        'record="record-from-answer"',
        'record="true"',
        'record="record-from-start" recordingStatusCallbackEvent="done"',
        'record="record-from-start" recordingStatusCallbackMethod="PUT"',
    ],
)
def test_bad_conference_recording_attributes_are_refused(
    app: AppUnderTest, sim: SimClient, attribute: str
) -> None:
    app.on("/twilio/voice", room("caller", attribute))
    sid = sim.call()

    sim.wait_ended(sid)

    first_error = sim.events(sid, "error")[0]
    assert (first_error["code"], first_error["kind"]) == (12200, "voice")
