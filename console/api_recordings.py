"""API: recordings found by case, caller's last digits, handler or time, and a recording's audio,
streamed through Lifeline from Twilio (never Twilio's URL), each playback audited."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from starlette.responses import Response

from console.endpoints import ApiRequest
from console.errors import BadRequest
from console.recording_audio import Listener, play
from console.recording_search import search_of
from routing.figures import LONDON
from routing.recordings import Recording, RecordingKind, RecordingStatus

AUDIO = "/api/v1/recordings/{recording_sid}/audio"
WAV = "audio/x-wav"  # as Twilio serves a recording's .wav
SEARCH_QUERY = {
    "case_id": "only this case's",
    "digits": "the caller's last 3 or 4 digits (the last 3 are kept)",
    "handler": "only this handler's",
    "since": "started at or after (ISO 8601; without an offset, London time)",
    "until": "started at or before (ISO 8601; without an offset, London time)",
}
RANGE = {"Range": "a single byte range, as a media player asks (`bytes=0-`): answered 206"}
AUDIO_ANSWERS = {
    206: "The byte range asked for (Content-Range says which)",
    416: "The range asked for is beyond the end (Content-Range gives the length)",
    502: "Twilio failed or could not be reached",
}


class RecordingView(BaseModel):
    """A recording as a supervisor sees it: the caller's number only as its last digits
    (`caller`: `…123`, or "" when withheld); `audio`: where to play it, when there is audio."""

    sid: str
    call_sid: str
    kind: RecordingKind
    case_id: str
    handler: str
    queue: str
    caller: str
    started: float
    started_at: str  # London time, ISO 8601
    duration: int
    channels: int
    status: RecordingStatus
    error_code: str
    audio: str | None

    @classmethod
    def of(cls, recording: Recording) -> RecordingView:
        return cls(
            sid=recording.sid,
            call_sid=recording.call_sid,
            kind=recording.kind,
            case_id=recording.case_id,
            handler=recording.handler,
            queue=recording.queue,
            caller=f"…{recording.digits}" if recording.digits else "",
            started=recording.started,
            started_at=datetime.fromtimestamp(recording.started, LONDON).isoformat(),
            duration=recording.duration,
            channels=recording.channels,
            status=recording.status,
            error_code=recording.error_code,
            audio=AUDIO.format(recording_sid=recording.sid) if recording.playable else None,
        )


async def list_recordings(api: ApiRequest) -> list[RecordingView]:
    search, problems = search_of(api.query)
    if search is None:
        raise BadRequest(
            "the search cannot be read", [f"{name}: {text}" for name, text in problems.items()]
        )
    return [RecordingView.of(recording) for recording in await api.floor.recordings.search(search)]


async def recording_audio(api: ApiRequest) -> Response:
    listener = Listener(
        actor=api.principal.name,
        method=api.method,
        headers=api.headers,
        detail={"token": api.principal.token_id},
    )
    return await play(api.floor, api.console.media, str(api.path["recording_sid"]), listener)
