"""Playing a recording from the console: the audio comes from the simulated Twilio (a real call
through a recorded <Dial>) through Lifeline, byte for byte, ranges and all; each playback in the
audit log once; a recording deleted at Twilio, or Twilio failing or unreachable, said plainly,
and never Twilio's address or the account's credentials given away."""

from __future__ import annotations

import io
import logging
import wave
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing.clock import VirtualClock
from routing.recordings import RecordingStatus
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, make_settings
from tests.console.recording_line import (  # noqa: F401  # the fixtures
    Made,
    RecordingLine,
    _recording_servers,
    kept,
    plays,
    recording_line,
)
from tests.console.web.people import BASE, Person, add_user
from tests.sim.servers import free_port

DELETED = "no longer held at Twilio (deleted under the retention period?)"
OURS = ("console", "routing", "lifeline", "config", "ivr", "workers")


@pytest.fixture
def settings(redis_url: str, recording_line: RecordingLine) -> Settings:  # noqa: F811
    """Lifeline's Twilio is the simulated one, with the tests' account."""
    return make_settings(redis_url, twilio_api_base_url=recording_line.base_url)


def audio(person: Person, sid: str, **headers: str) -> httpx.Response:
    response = person.client.get(
        f"{BASE}/console/recordings/{sid}/audio", headers=headers, follow_redirects=False
    )
    person.keep()
    return response


def test_playback_streams_exactly_the_wav_twilio_holds(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record(talk_seconds=3)
    kept(redis_url, made)
    held = recording_line.media(made.sid).content

    response = audio(supervisor, made.sid)

    assert response.status_code == 200
    assert response.content == held
    assert response.headers["content-type"] == "audio/x-wav"
    assert response.headers["content-length"] == str(len(held))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "no-store"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)


def test_a_range_is_answered_206_with_the_bytes_asked_for(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)
    held = recording_line.media(made.sid).content

    middle = audio(supervisor, made.sid, Range="bytes=100-1099")
    beyond = audio(supervisor, made.sid, Range=f"bytes={len(held)}-")

    assert middle.status_code == 206
    assert middle.content == held[100:1100]
    assert middle.headers["content-range"] == f"bytes 100-1099/{len(held)}"
    assert middle.headers["content-length"] == "1000"
    assert middle.headers["content-type"] == "audio/x-wav"
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(held)}"


def test_each_playback_is_audited_once_however_its_ranges_are_asked_for(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
    clock: VirtualClock,
) -> None:
    made = recording_line.record()
    kept(redis_url, made, case_id="C-77", handler="h1")
    held = recording_line.media(made.sid).content

    # Whatever ranges a player or a script asks for, each answer with audio: one playback.
    for asked in ("bytes=-999999", "bytes=1-,0-", "junk", "Bytes=0-", "bytes=5000-", "bytes=0-1"):
        assert audio(supervisor, made.sid, Range=asked).status_code in (200, 206)
    assert audio(supervisor, made.sid).content == held

    entries = plays(redis_url)
    assert [(e.actor, e.target, e.at) for e in entries] == [("sue", made.sid, clock.now())]
    assert entries[0].detail == {"case_id": "C-77", "handler": "h1"}
    log = supervisor.get("/console/audit?action=recording.played").text
    assert log.count(f"<td>{made.sid}</td>") == 1
    assert "case_id: C-77; handler: h1" in log


def test_a_range_past_the_end_is_refused_with_no_body_and_audits_nothing(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)
    held = recording_line.media(made.sid).content

    beyond = audio(supervisor, made.sid, Range=f"bytes={len(held)}-")

    assert beyond.status_code == 416
    assert beyond.content == b""
    assert plays(redis_url) == []


def test_a_playback_started_from_another_site_is_refused_and_not_audited(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)

    linked = audio(supervisor, made.sid, **{"Sec-Fetch-Site": "cross-site"})
    opened = audio(supervisor, made.sid, **{"Sec-Fetch-Dest": "document"})
    player = audio(
        supervisor, made.sid, **{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "audio"}
    )

    assert (linked.status_code, opened.status_code, player.status_code) == (403, 403, 200)
    assert len(plays(redis_url)) == 1


def test_a_recording_deleted_at_twilio_is_not_found_and_says_why(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)
    recording_line.delete(made.sid)  # through the twilio library, as the retention job does

    response = audio(supervisor, made.sid)

    assert response.status_code == 404
    assert f"Recording {made.sid} is {DELETED}" in response.text
    assert plays(redis_url) == []  # nothing was played


def test_an_unknown_recording_or_one_without_audio_is_not_found(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    unknown = audio(supervisor, "RE" + "0" * 32)
    assert unknown.status_code == 404
    assert f"There is no recording RE{'0' * 32} here." in unknown.text
    absent = Made("RE" + "1" * 32, "CA" + "1" * 32, 0)
    kept(redis_url, absent, status=RecordingStatus.ABSENT)
    response = audio(supervisor, absent.sid)
    assert response.status_code == 404
    assert "has no audio: Twilio reported it absent" in response.text


def test_twilio_failing_is_a_bad_gateway_said_plainly(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)
    recording_line.fail_media(500)

    failed = audio(supervisor, made.sid)

    assert failed.status_code == 502
    assert f"Recording {made.sid} could not be fetched from Twilio" in failed.text
    assert plays(redis_url) == []
    assert audio(supervisor, made.sid).status_code == 200  # the fault cleared


@pytest.fixture
def cut_off(redis_url: str, clock: VirtualClock) -> Iterator[Person]:
    """A supervisor signed in to a Lifeline whose Twilio cannot be reached: nothing listens at
    its address."""
    unreachable = f"http://127.0.0.1:{free_port()}"
    app = create_app(make_settings(redis_url, twilio_api_base_url=unreachable), clock=clock)
    with TestClient(app, base_url=BASE) as client:
        add_user(redis_url, "sue", Role.SUPERVISOR)
        person = Person(client, redis_url, clock)
        assert person.sign_in("sue").status_code == 303
        yield person


def test_twilio_unreachable_is_a_bad_gateway_and_gives_nothing_of_twilio_away(
    cut_off: Person, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    made = Made("RE" + "2" * 32, "CA" + "2" * 32, 5)
    kept(redis_url, made)
    caplog.set_level(logging.DEBUG)

    response = audio(cut_off, made.sid)

    assert response.status_code == 502
    assert f"Recording {made.sid} could not be fetched from Twilio" in response.text
    assert "Twilio could not be reached" in response.text
    told = response.text + str(response.headers)
    for secret in (ACCOUNT_SID, AUTH_TOKEN, "/2010-04-01/", "127.0.0.1:"):
        assert secret not in told
    for record in caplog.records:
        assert AUTH_TOKEN not in record.getMessage()
        if record.name.split(".")[0] in OURS:
            assert ACCOUNT_SID not in record.getMessage(), record.getMessage()
            assert "/2010-04-01/" not in record.getMessage(), record.getMessage()
    assert any(
        record.name == "console.recording_audio" and made.sid in record.getMessage()
        for record in caplog.records
    )


def test_nothing_of_twilio_is_in_the_page_or_the_audio_headers(
    supervisor: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made, case_id="C-9")

    page = supervisor.get("/console/recordings?case_id=C-9")
    played_ = audio(supervisor, made.sid, Range="bytes=0-")

    assert f'src="/console/recordings/{made.sid}/audio"' in page.text
    host = recording_line.base_url.removeprefix("http://")
    for told in (page.text + str(page.headers), str(played_.headers)):
        for secret in (ACCOUNT_SID, AUTH_TOKEN, host, "/2010-04-01/", "twilio.com"):
            assert secret not in told
    assert played_.status_code == 206  # and no redirect to Twilio
    assert "location" not in played_.headers


def test_a_handler_is_refused_the_audio(
    handler_person: Person,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made, handler="h1")  # even a recording of their own call

    response = audio(handler_person, made.sid)

    assert response.status_code == 403
    assert "RIFF" not in response.text
    assert plays(redis_url) == []
