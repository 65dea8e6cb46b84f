"""Recording `<Dial>` bridges as Twilio does: when the recording starts and ends, its status
callback, its resource and media through the REST API (the real twilio library), and its faults."""

from __future__ import annotations

import io
import re
import wave
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.sim.servers import ACCOUNT_SID, AUTH_TOKEN, AppUnderTest, SimClient, twiml

HANDLER = "client:handler-7"
RECORDINGS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"
AUTH = (ACCOUNT_SID, AUTH_TOKEN)


def dial(record: str | None, *, events: str = "completed", method: str = "POST") -> str:
    """A Dial to the handler, recorded as `record` says, its callback with a query of its own."""
    attributes = ' action="/dial-done"'
    if record is not None:
        attributes += (
            f' record="{record}" recordingStatusCallback="/recording-status?case=42"'
            f' recordingStatusCallbackEvent="{events}"'
            f' recordingStatusCallbackMethod="{method}"'
        )
    return twiml(f'<Dial{attributes}><Client url="/whisper">handler-7</Client></Dial>')


@pytest.fixture
def line(app: AppUnderTest) -> AppUnderTest:
    """A whisper that takes 10 s, a Dial action, and a recording callback that accepts."""
    app.on("/whisper", twiml('<Say>Urgent call.</Say><Pause length="10"/>'))
    app.on("/dial-done", twiml("<Hangup/>"))
    app.on("/recording-status", "")
    return app


def recording_events(sim: SimClient, sid: str) -> list[dict[str, Any]]:
    return sim.events(sid, "recording")


def media(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, auth=AUTH, headers=headers)


def test_a_dual_recording_covers_the_bridged_talk_not_the_whisper(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=3)
    line.on("/twilio/voice", dial("record-from-answer-dual", events="in-progress completed"))
    sid = sim.call()

    sim.wait_ended(sid)

    started, completed = line.wait_for("/recording-status", count=2)
    params = completed.params
    assert started.params["RecordingStatus"] == "in-progress"
    assert started.params["RecordingSid"] == params["RecordingSid"]
    assert params["RecordingStatus"] == "completed"
    # 3 s of talk (and the real milliseconds around it, long at this time scale); the 10 s
    # whisper before the bridge is not in it.
    assert 3 <= int(params["RecordingDuration"]) <= 6
    assert int(line.to("/dial-done")[0].params["DialCallDuration"]) >= 13
    recording_sid = params["RecordingSid"]
    assert re.fullmatch(r"RE[0-9a-f]{32}", recording_sid)
    assert params["CallSid"] == sid  # the parent leg, as on Twilio
    assert params["AccountSid"] == ACCOUNT_SID
    assert params["RecordingUrl"] == f"{sim.base_url}{RECORDINGS}/{recording_sid}"
    assert (params["RecordingChannels"], params["RecordingSource"]) == ("2", "DialVerb")
    assert (params["RecordingTrack"], params["ErrorCode"]) == ("both", "0")
    start = parsedate_to_datetime(params["RecordingStartTime"])
    assert abs(datetime.now(UTC) - start) < timedelta(minutes=1)
    assert completed.url == line.url("/recording-status?case=42")
    assert completed.signature_valid  # checked by twilio's RequestValidator, query and all
    events = sim.events(sid, "bridged", "recording", "dial_ended")
    assert [(e["type"], e.get("status")) for e in events] == [
        ("bridged", None),
        ("recording", "in-progress"),
        ("recording", "completed"),
        ("dial_ended", "completed"),
    ]
    assert events[2]["recording_sid"] == recording_sid
    assert events[2]["duration"] == int(params["RecordingDuration"])


def test_the_recording_is_fetched_through_the_twilio_library_and_its_media_is_a_wav(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=2)
    line.on("/twilio/voice", dial("record-from-answer-dual"))
    sid = sim.call()
    [callback] = line.wait_for("/recording-status")

    recording = rest.recordings(callback.params["RecordingSid"]).fetch()

    assert (recording.call_sid, recording.account_sid) == (sid, ACCOUNT_SID)
    assert (recording.status, recording.channels, recording.source) == ("completed", 2, "DialVerb")
    assert recording.duration == callback.params["RecordingDuration"]
    assert recording.conference_sid is None
    assert recording.uri == f"{RECORDINGS}/{recording.sid}.json"
    assert recording.media_url == callback.params["RecordingUrl"]
    assert recording.start_time is not None
    assert recording.error_code is None
    assert set(recording.subresource_uris) == {"add_on_results", "transcriptions"}
    plain, as_wav = media(recording.media_url), media(recording.media_url + ".wav")
    assert plain.status_code == as_wav.status_code == 200
    assert plain.headers["content-type"] == "audio/x-wav"
    assert plain.content == as_wav.content
    with wave.open(io.BytesIO(plain.content)) as audio:
        assert (audio.getnchannels(), audio.getframerate(), audio.getsampwidth()) == (2, 8000, 2)
        assert audio.getnframes() == 8000 * min(max(int(recording.duration), 1), 5)


def test_a_single_channel_recording_and_a_callback_by_get(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer", method="GET"))
    sim.call()

    [callback] = line.wait_for("/recording-status")

    assert callback.method == "GET"
    assert callback.params["case"] == "42"  # the URL's own query, then Twilio's parameters
    assert callback.params["RecordingChannels"] == "1"
    recording = rest.recordings(callback.params["RecordingSid"]).fetch()
    with wave.open(io.BytesIO(media(recording.media_url).content)) as audio:
        assert audio.getnchannels() == 1


def test_recording_from_ringing_includes_the_ringing_and_the_whisper(
    line: AppUnderTest, sim: SimClient
) -> None:
    sim.party(HANDLER, ring_seconds=4, talk_seconds=2)
    line.on("/twilio/voice", dial("record-from-ringing"))
    sim.call()

    [callback] = line.wait_for("/recording-status")

    assert int(callback.params["RecordingDuration"]) >= 4 + 10 + 2


def test_no_record_attribute_means_no_recording(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on(
        "/twilio/voice",
        twiml(
            '<Dial action="/dial-done" recordingStatusCallback="/recording-status">'
            "<Client>handler-7</Client></Dial>"
        ),
    )
    sid = sim.call()

    sim.wait_ended(sid)

    assert recording_events(sim, sid) == []
    assert rest.recordings.list() == []
    assert line.to("/recording-status") == []


def test_an_unanswered_dial_records_nothing_and_calls_back_nobody(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, answer="no-answer")
    line.on("/twilio/voice", dial("record-from-answer-dual", events="in-progress completed"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert line.to("/dial-done")[0].params["DialCallStatus"] == "no-answer"
    assert recording_events(sim, sid) == []
    assert [e for e in record["events"] if e.get("kind") == "recording-status"] == []
    assert rest.recordings.list() == []
    assert line.to("/recording-status") == []


@pytest.mark.parametrize("ended_by", ["caller hangs up", "dialled leg redirected"])
def test_the_recording_ends_when_the_bridge_does(
    line: AppUnderTest, sim: SimClient, rest: Client, ended_by: str
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    line.on("/twilio/voice", dial("record-from-answer"))
    sid = sim.call()
    sim.wait_event(sid, "bridged")
    [child] = sim.record(sid)["children"]

    if ended_by == "caller hangs up":
        sim.hang_up(sid)
    else:
        rest.calls(child).update(twiml='<Response><Pause length="600"/></Response>')

    [callback] = line.wait_for("/recording-status")
    assert callback.params["RecordingStatus"] == "completed"
    assert int(callback.params["RecordingDuration"]) < 60
    assert sim.record(child)["ended"] == (ended_by == "caller hangs up")
    if not sim.record(child)["ended"]:
        sim.hang_up(child)


def test_a_recording_in_progress_is_listed_and_cannot_be_deleted_yet(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    line.on("/twilio/voice", dial("record-from-answer"))
    sid = sim.call()
    sim.wait_event(sid, "recording")

    [recording] = rest.calls(sid).recordings.list()

    assert (recording.status, recording.duration) == ("in-progress", "-1")
    with pytest.raises(TwilioRestException) as refused:
        rest.recordings(recording.sid).delete()
    assert (refused.value.status, refused.value.code) == (400, 20001)
    assert media(f"{sim.base_url}{RECORDINGS}/{recording.sid}").status_code == 404
    sim.hang_up(sid)
    line.wait_for("/recording-status")
    assert rest.recordings(recording.sid).delete() is True


def test_a_recording_fault_leaves_the_call_bridged_and_the_recording_absent(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=2)
    sim.faults(recordings={"count": 1})
    line.on("/twilio/voice", dial("record-from-answer", events="completed absent"))
    sid = sim.call()

    [callback] = line.wait_for("/recording-status")

    assert (callback.params["RecordingStatus"], callback.params["ErrorCode"]) == ("absent", "16102")
    sim.wait_ended(sid)
    assert line.to("/dial-done")[0].params["DialBridged"] == "true"
    recording = rest.recordings(callback.params["RecordingSid"]).fetch()
    assert (recording.status, recording.error_code) == ("absent", 16102)
    assert media(callback.params["RecordingUrl"]).status_code == 404
    assert sim.http.get("/sim/faults").json()["recordings"] is None  # used up


def test_an_absent_recording_is_not_called_back_unless_absent_is_asked_for(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    sim.faults(recordings={"count": 1})
    line.on("/twilio/voice", dial("record-from-answer"))
    sid = sim.call()

    sim.wait_ended(sid)

    [event] = [e for e in recording_events(sim, sid) if e["status"] != "in-progress"]
    assert (event["status"], event["error_code"]) == ("absent", 16102)
    assert line.to("/recording-status") == []


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (404, 20404)])
def test_a_media_fault_fails_the_next_fetches_then_clears(
    line: AppUnderTest, sim: SimClient, status: int, code: int
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer"))
    sim.call()
    url = line.wait_for("/recording-status")[0].params["RecordingUrl"]
    sim.faults(recording_media={"status": status, "count": 1})

    failed = media(url)

    assert (failed.status_code, failed.json()["code"]) == (status, code)
    assert media(url).status_code == 200


def test_deleting_a_recording_through_the_twilio_library(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer"))
    sid = sim.call()
    callback = line.wait_for("/recording-status")[0].params
    recording_sid = callback["RecordingSid"]

    assert rest.recordings(recording_sid).delete() is True

    with pytest.raises(TwilioRestException) as fetched:
        rest.recordings(recording_sid).fetch()
    assert (fetched.value.status, fetched.value.code) == (404, 20404)
    assert media(callback["RecordingUrl"]).status_code == 404
    assert rest.recordings.list(call_sid=sid) == []
    with pytest.raises(TwilioRestException) as again:
        rest.recordings(recording_sid).delete()
    assert (again.value.status, again.value.code) == (404, 20404)
    kept = rest.recordings.list(call_sid=sid, include_soft_deleted=True)
    assert [(r.sid, r.status) for r in kept] == [(recording_sid, "deleted")]


def test_the_list_filters_by_call_and_by_day_and_pages(
    line: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer"))
    first = sim.call()
    first_recording = line.wait_for("/recording-status")[0].params["RecordingSid"]
    second = sim.call()
    second_recording = line.wait_for("/recording-status", count=2)[1].params["RecordingSid"]

    assert [r.sid for r in rest.recordings.list(call_sid=first)] == [first_recording]
    assert [r.sid for r in rest.calls(second).recordings.list()] == [second_recording]
    both = [second_recording, first_recording]  # newest first
    assert [r.sid for r in rest.recordings.list(page_size=1)] == both
    today = datetime.now(UTC).date()
    assert [r.sid for r in rest.recordings.list(date_created_after=today)] == both
    assert rest.recordings.list(date_created_before=today - timedelta(days=1)) == []
    fetched = rest.calls(first).recordings(first_recording).fetch()
    assert fetched.sid == first_recording
    with pytest.raises(TwilioRestException):
        rest.calls(second).recordings(first_recording).fetch()


def test_media_needs_the_account_credentials(line: AppUnderTest, sim: SimClient) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer"))
    sim.call()
    url = line.wait_for("/recording-status")[0].params["RecordingUrl"]

    anonymous = httpx.get(url)
    wrong = httpx.get(url, auth=(ACCOUNT_SID, "not-the-token"))

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    assert wrong.status_code == 401
    assert media(url + ".mp3").status_code == 404  # the sim makes WAV only


def test_media_answers_byte_ranges(line: AppUnderTest, sim: SimClient) -> None:
    sim.party(HANDLER, talk_seconds=1)
    line.on("/twilio/voice", dial("record-from-answer"))
    sim.call()
    url = line.wait_for("/recording-status")[0].params["RecordingUrl"]
    whole = media(url).content

    head = media(url, Range="bytes=0-43")
    tail = media(url, Range="bytes=-10")
    rest_of_it = media(url, Range="bytes=100-")
    beyond = media(url, Range=f"bytes={len(whole)}-")

    assert (head.status_code, head.content) == (206, whole[:44])
    assert head.headers["content-range"] == f"bytes 0-43/{len(whole)}"
    assert (tail.status_code, tail.content) == (206, whole[-10:])
    assert rest_of_it.content == whole[100:]
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole)}"


@pytest.mark.parametrize(
    "attribute",
    [
        'record="true"',
        'record="record-from-answer" recordingStatusCallbackEvent="done"',
        'record="record-from-answer" recordingTrack="sideways"',
    ],
)
def test_bad_recording_attributes_are_refused(
    app: AppUnderTest, sim: SimClient, attribute: str
) -> None:
    app.on("/twilio/voice", twiml(f"<Dial {attribute}>+441632960999</Dial>"))
    sid = sim.call()

    sim.wait_ended(sid)

    first_error = sim.events(sid, "error")[0]  # then the line's Fallback URL, which this app lacks
    assert (first_error["code"], first_error["kind"]) == (12200, "voice")
