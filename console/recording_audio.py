"""A recording's audio, fetched from Twilio as it is asked for (the player's byte ranges passed
on) and streamed through, never held whole: whoever listens gets neither Twilio's URL nor the
account's credentials. A listener's playback of a recording is audited once, whatever ranges
their player asks for (or a script sends): once in PLAYED_WINDOW_SECONDS, on Twilio's answer.

AudioUnavailable (sid, message)
├── UnknownRecording     not known here: never made, or forgotten after the retention period
├── NoAudio              known, but Twilio made no audio of it (absent or failed)
├── NotAtTwilio          Twilio holds no audio for it (404): deleted there
└── TwilioUnavailable    Twilio unreachable, too slow, or failing (5xx, our credentials refused)
AudioBrokeOff            Twilio stopped in the middle: the player's audio is cut short
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from config.settings import Settings
from routing import keys
from routing.floor import Floor
from routing.recordings import Recording

log = logging.getLogger(__name__)

CONNECT_SECONDS = 3.0  # Twilio answers a connection at once or not at all
READ_SECONDS = 15.0  # between two chunks of audio: a player waits no longer than this
MAX_STREAMS = 50  # recordings streaming from Twilio at once, per console process
PASSED_ON = ("content-type", "content-length", "content-range", "accept-ranges")
STREAMED = (200, 206)
UNSATISFIABLE = 416  # a range beyond the end: passed on, so the player knows the length
PLAYED = "recording.played"
# A player asks for many ranges as it plays and seeks: one audit record for each listener and
# recording within this time, however the ranges are asked for.
PLAYED_WINDOW_SECONDS = 1800


class AudioUnavailable(Exception):
    def __init__(self, sid: str, message: str) -> None:
        super().__init__(message)
        self.sid = sid
        self.message = message


class UnknownRecording(AudioUnavailable):
    def __init__(self, sid: str) -> None:
        super().__init__(sid, f"There is no recording {sid} here.")


class NoAudio(AudioUnavailable):
    def __init__(self, recording: Recording) -> None:
        super().__init__(
            recording.sid,
            f"Recording {recording.sid} has no audio: Twilio reported it {recording.status.value}.",
        )


class NotAtTwilio(AudioUnavailable):
    def __init__(self, sid: str) -> None:
        super().__init__(
            sid,
            f"Recording {sid} is no longer held at Twilio (deleted under the retention period?).",
        )


class TwilioUnavailable(AudioUnavailable):
    def __init__(self, sid: str, what: str) -> None:
        super().__init__(
            sid, f"Recording {sid} could not be fetched from Twilio: {what}. Try again shortly."
        )


class AudioBrokeOff(Exception):
    """Twilio stopped sending in the middle of the audio: the response has begun, so the player
    can only see it cut short."""

    def __init__(self, sid: str) -> None:
        super().__init__(f"recording {sid}: the audio from Twilio broke off")


@dataclass(frozen=True)
class Listener:
    """Who asks to hear a recording, for the audit log (`detail`: how they asked, e.g. the
    API token's id), and what their player sent."""

    actor: str
    method: str
    headers: Headers
    detail: dict[str, object]


def media_url(settings: Settings, sid: str) -> str:
    account, recording = quote(settings.twilio_account_sid, safe=""), quote(sid, safe="")
    return f"{settings.api_base_url}/2010-04-01/Accounts/{account}/Recordings/{recording}.wav"


def client_for(settings: Settings) -> httpx.AsyncClient:
    """One per console process, made at start-up: building one costs the event loop tens of
    milliseconds (certificates), and its pool bounds the streams open to Twilio at once."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=MAX_STREAMS, max_keepalive_connections=10),
        auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
        timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS, pool=CONNECT_SECONDS),
        # Twilio answers a media URL with a redirect to its storage; httpx drops the credentials
        # when a redirect leaves the origin they were given for.
        follow_redirects=True,
        trust_env=False,
    )


async def play(floor: Floor, client: httpx.AsyncClient, sid: str, listener: Listener) -> Response:
    """The recording's audio as Twilio answers for it: its status (200, 206 for a range, 416
    with no body) and the headers a player needs; audited once a listener gets audio. A HEAD
    asks Twilio for a HEAD."""
    recording = await floor.recordings.get(sid)
    if recording is None:
        raise UnknownRecording(sid)
    if not recording.playable:
        raise NoAudio(recording)
    ids = {"case_id": recording.case_id, "call_sid": recording.call_sid}
    headers = {"Accept-Encoding": "identity"}  # the bytes as stored: Content-Length holds
    if "range" in listener.headers:
        headers["Range"] = listener.headers["range"]
    stack = AsyncExitStack()
    method = "HEAD" if listener.method == "HEAD" else "GET"
    try:
        answer = await stack.enter_async_context(
            client.stream(method, media_url(floor.settings, recording.sid), headers=headers)
        )
        if answer.status_code == 404:
            raise NotAtTwilio(recording.sid)
        if answer.status_code not in (*STREAMED, UNSATISFIABLE):
            raise TwilioUnavailable(recording.sid, f"Twilio answered {answer.status_code}")
        if (
            answer.status_code in STREAMED
            and method == "GET"
            and await _first_play(floor, listener.actor, recording.sid)
        ):
            await floor.audit.record(
                listener.actor,
                PLAYED,
                recording.sid,
                floor.clock.now(),
                case_id=recording.case_id,
                handler=recording.handler,
                **listener.detail,
            )
    except httpx.PoolTimeout:
        await stack.aclose()
        log.warning("recording %s: too many recordings playing at once", recording.sid, extra=ids)
        raise TwilioUnavailable(recording.sid, "too many recordings are playing at once") from None
    except httpx.TimeoutException:
        await stack.aclose()
        log.warning("recording %s: Twilio did not answer in time", recording.sid, extra=ids)
        raise TwilioUnavailable(recording.sid, "Twilio did not answer in time") from None
    except httpx.TransportError as error:
        await stack.aclose()
        # The error's class only: its text may carry the URL.
        log.warning(
            "recording %s: Twilio unreachable (%s)", recording.sid, type(error).__name__, extra=ids
        )
        raise TwilioUnavailable(recording.sid, "Twilio could not be reached") from None
    except BaseException as error:
        await stack.aclose()
        if isinstance(error, AudioUnavailable):
            log.warning("recording %s: %s", recording.sid, error.message, extra=ids)
        raise
    passed = {name: answer.headers[name] for name in PASSED_ON if name in answer.headers}
    passed["Cache-Control"] = "no-store"
    if answer.status_code == UNSATISFIABLE:
        await stack.aclose()  # the length is in Content-Range; Twilio's error body is not ours
        passed.pop("content-type", None)
        return Response(status_code=UNSATISFIABLE, headers=passed)
    if method == "HEAD":
        await stack.aclose()
        return Response(status_code=answer.status_code, headers=passed)
    return StreamingResponse(
        _relayed(answer, stack, recording.sid),
        status_code=answer.status_code,
        headers=passed,
        # Also run when the player goes away mid-stream (the stream is then cancelled).
        background=BackgroundTask(stack.aclose),
    )


async def _first_play(floor: Floor, actor: str, sid: str) -> bool:
    """Whether this is the listener's first audio of the recording within the window."""
    played = await floor.redis.set(
        keys.recording_played(actor, sid), "1", nx=True, ex=PLAYED_WINDOW_SECONDS
    )
    return bool(played)


async def _relayed(answer: httpx.Response, stack: AsyncExitStack, sid: str) -> AsyncIterator[bytes]:
    async with stack:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        except httpx.TransportError as error:  # begun, so it can only be cut short
            log.warning("recording %s: the audio broke off (%s)", sid, type(error).__name__)
            raise AudioBrokeOff(sid) from None
