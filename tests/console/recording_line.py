"""The simulated Twilio, recording: the sim's phone network and a line of ours that puts every
call through to a handler by a recorded <Dial>, each a real server in a thread, with the tests'
account. A recording is made by a real call; its audio is fetched, deleted or made to fail as
Twilio's would be, through Twilio's own REST API and the real twilio library.

Use the `recording_line` fixture (import it, and `_recording_servers`, into the test module)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio
from twilio.rest import Client

from routing.audit import Audit, AuditEntry
from routing.recordings import Recording, RecordingKind, Recordings
from sim.phone.app import create_app
from sim.phone.config import LineUrls, PhoneConfig
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER
from tests.sim.servers import AppUnderTest, SimClient, free_port, serve, twiml

TIME_SCALE = 0.02
HANDLER = "h1"
RECORDED_DIAL = twiml(
    '<Dial record="record-from-answer-dual" recordingStatusCallback="/recording-status">'
    f"<Client>{HANDLER}</Client></Dial>"
)


@dataclass(frozen=True)
class Made:
    """A recording the sim holds, as Twilio told of it."""

    sid: str
    call_sid: str
    duration: int


class RecordingLine:
    def __init__(self, line: AppUnderTest, sim: SimClient) -> None:
        self.line = line
        self.sim = sim
        self.rest = Client(ACCOUNT_SID, AUTH_TOKEN)
        self.rest.api.base_url = sim.base_url

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    def reset(self) -> None:
        self.sim.reset()
        self.line.reset()
        self.line.on("/twilio/voice", RECORDED_DIAL)
        self.line.on("/recording-status", "")

    def record(self, talk_seconds: int = 3) -> Made:
        """A caller put through to the handler, who talks for `talk_seconds` (simulated) and
        hangs up: the recording Twilio's callback tells of."""
        self.sim.party(f"client:{HANDLER}", answer="answer", talk_seconds=talk_seconds)
        told = len(self.line.to("/recording-status"))
        call_sid = self.sim.call(caller=CALLER)
        callback = self.line.wait_for("/recording-status", count=told + 1)[told].params
        assert callback["RecordingStatus"] == "completed", callback
        return Made(callback["RecordingSid"], call_sid, int(callback["RecordingDuration"]))

    def media(self, sid: str, **headers: str) -> httpx.Response:
        """The audio as Twilio serves it, asked for with the account's credentials."""
        url = f"{self.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav"
        return httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), headers=headers, timeout=10)

    def delete(self, sid: str) -> None:
        assert self.rest.recordings(sid).delete() is True

    def fail_media(self, status: int, count: int = 1) -> None:
        self.sim.faults(recording_media={"status": status, "count": count})


def kept(redis_url: str, made: Made, **about: object) -> Recording:
    """Kept by Lifeline as the recording callback keeps it: the case, the caller's last
    digits, the queue and the handler."""
    values: dict[str, object] = {
        "sid": made.sid,
        "call_sid": made.call_sid,
        "kind": RecordingKind.CALL,
        "case_id": "C-1",
        "handler": HANDLER,
        "digits": CALLER[-3:],
        "queue": "general",
        "started": 1_767_225_000.0,
        "duration": made.duration,
    }
    values.update(about)
    recording = Recording.model_validate(values)
    add_recordings(redis_url, recording)
    return recording


def add_recordings(redis_url: str, *recordings: Recording) -> None:
    async def add() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            for recording in recordings:
                await Recordings(client).add(recording)
        finally:
            await client.aclose()

    asyncio.run(add())


def plays(redis_url: str) -> list[AuditEntry]:
    """The audit log's playbacks, oldest first."""

    async def read() -> list[AuditEntry]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await Audit(client).latest(1000, "recording.played")
        finally:
            await client.aclose()

    return list(reversed(asyncio.run(read())))


@pytest.fixture(scope="session")
def _recording_servers() -> Iterator[RecordingLine]:
    line = AppUnderTest(AUTH_TOKEN)
    with serve(line.asgi(), free_port()) as line_url:
        line.base_url = line_url
        config = PhoneConfig(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            urls=LineUrls.under(line_url),
            time_scale=TIME_SCALE,
            speech_words_per_second=0,
            webhook_timeout=2.0,
        )
        with serve(create_app(config), free_port()) as sim_url:
            sim = SimClient(sim_url)
            try:
                yield RecordingLine(line, sim)
            finally:
                sim.close()


@pytest.fixture
def recording_line(_recording_servers: RecordingLine) -> Iterator[RecordingLine]:
    _recording_servers.reset()
    yield _recording_servers
    forged = [item for item in _recording_servers.line.received if not item.signature_valid]
    assert not forged, f"requests with a bad X-Twilio-Signature: {forged}"
