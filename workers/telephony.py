"""Twilio's REST API, through twilio's own Client, behind one narrow seam.

Errors are translated here, logged with the CallSid:

    TelephonyError
    ├── CallGone          the call has ended (404, or 21220 "not in progress"): nothing to retry
    ├── RateLimited       429: always safe to retry
    └── Unavailable       5xx or no connection: retry later
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import Settings

log = logging.getLogger(__name__)

CALL_NOT_IN_PROGRESS = 21220
# Twilio answers in well under a second. A request it has not answered by then is given up, and
# what it did is found out afterwards (a call placed: from the Calls list).
REQUEST_TIMEOUT_SECONDS = 5
FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LIST_PAGE_SIZE = 100
RECORDINGS_PAGE_SIZE = 1000  # Twilio's largest: a national line's two days in some 100 pages


class TelephonyError(Exception):
    def __init__(self, message: str, call_sid: str = "") -> None:
        super().__init__(message)
        self.call_sid = call_sid


class CallGone(TelephonyError):
    pass


class RateLimited(TelephonyError):
    pass


class Unavailable(TelephonyError):
    pass


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    status: str


@dataclass(frozen=True)
class RecordingSeen:
    """A recording as Twilio's REST API lists it; its start in seconds since the epoch."""

    sid: str
    call_sid: str  # the call that ran the <Dial>; "" for a conference's
    conference_sid: str  # a conference's recording (a warm transfer's room)
    source: str  # "DialVerb": a <Dial>'s
    status: str
    duration: int
    channels: int
    started: float | None
    error_code: str


@dataclass(frozen=True)
class CallSeen:
    """A call as Twilio's REST API describes it; times in seconds since the epoch (whole ones:
    Twilio's resolution)."""

    sid: str
    status: str
    direction: str
    created: float
    started: float | None

    @property
    def ended(self) -> bool:
        return self.status in FINAL


def _status(error: TwilioException) -> int | None:
    """The HTTP status of a failed list page (the library carries the response along)."""
    response = error.args[1] if len(error.args) > 1 else None
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def translate(error: Exception, call_sid: str) -> TelephonyError:
    status = error.status if isinstance(error, TwilioRestException) else None
    if isinstance(error, TwilioRestException):
        if error.status == 404 or error.code == CALL_NOT_IN_PROGRESS:
            return CallGone(f"call has ended ({error.code})", call_sid)
    elif isinstance(error, TwilioException):
        status = _status(error)
    if status is None:
        return Unavailable(f"Twilio unreachable: {type(error).__name__}", call_sid)
    if status == 429:
        return RateLimited("Twilio rate limit (429)", call_sid)
    if status >= 500:
        return Unavailable(f"Twilio answered {status}", call_sid)
    code = error.code if isinstance(error, TwilioRestException) else None
    return TelephonyError(f"Twilio refused the request ({status} {code})", call_sid)


def seen(call: Any) -> CallSeen:
    return CallSeen(
        sid=str(call.sid),
        status=str(call.status),
        direction=str(call.direction),
        created=call.date_created.timestamp(),
        started=call.start_time.timestamp() if call.start_time else None,
    )


class Telephony:
    """Calls Twilio's REST API (or the simulated network, by TWILIO_API_BASE_URL)."""

    def __init__(self, settings: Settings) -> None:
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=TwilioHttpClient(timeout=REQUEST_TIMEOUT_SECONDS),
        )
        self.client.api.base_url = settings.api_base_url

    async def redirect(self, call_sid: str, url: str) -> None:
        """Make a live call leave whatever TwiML it is in (a queue) and fetch `url`."""
        try:
            await asyncio.to_thread(self.client.calls(call_sid).update, url=url, method="POST")
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, call_sid)
            log.warning("redirect failed: %s", translated, extra={"call_sid": call_sid})
            raise translated from None

    async def place(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: bool
    ) -> PlacedCall:
        """An outbound call: Twilio fetches `url` when it is answered. Not idempotent."""
        options: dict[str, object] = {
            "to": to,
            "from_": from_,
            "url": url,
            "method": "POST",
            "status_callback": status_callback,
            "status_callback_method": "POST",
            "status_callback_event": ["initiated", "ringing", "answered", "completed"],
        }
        if machine_detection:
            options["machine_detection"] = "Enable"
        try:
            call = await asyncio.to_thread(self.client.calls.create, **options)
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, "")
            log.warning("placing a call failed: %s", translated)
            raise translated from None
        return PlacedCall(sid=str(call.sid), status=str(call.status))

    async def add_participant(
        self, room: str, from_: str, to: str, label: str, status_callback: str, ring_seconds: int
    ) -> str:
        """Ring `to` (a number, or `client:<identity>`) into the conference `room` (its
        friendly name); the room ends when they leave it. Their call's SID. Not idempotent."""
        try:
            participant = await asyncio.to_thread(
                self.client.conferences(room).participants.create,
                from_=from_,
                to=to,
                label=label,
                timeout=ring_seconds,
                end_conference_on_exit=True,
                beep="false",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=["ringing", "answered", "completed"],
            )
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, "")
            log.warning("adding a participant failed: %s", translated)
            raise translated from None
        return str(participant.call_sid)

    async def room_labels(self, room: str) -> frozenset[str] | None:
        """Who is in the live conference of that friendly name (their labels), or None if
        none is live."""

        def look() -> frozenset[str] | None:
            for status in ("in-progress", "init"):
                rooms = self.client.conferences.list(friendly_name=room, status=status, limit=1)
                if rooms:
                    people = self.client.conferences(rooms[0].sid).participants.list()
                    return frozenset(str(p.label) for p in people if p.label)
            return None

        try:
            return await asyncio.to_thread(look)
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, "")
            log.warning("listing a room failed: %s", translated)
            raise translated from None

    async def hang_up(self, call_sid: str) -> None:
        """End a call (ringing or answered); one over already is left as it is."""
        try:
            await asyncio.to_thread(self.client.calls(call_sid).update, status="completed")
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, call_sid)
            if isinstance(translated, CallGone):
                return
            log.warning("hang-up failed: %s", translated, extra={"call_sid": call_sid})
            raise translated from None

    async def calls_between(self, to: str, from_: str, since: date) -> list[CallSeen]:
        """The calls to `to` from `from_` that Twilio holds in its queue or that started on or
        after `since` (UTC). The list filters by To, From and Status, and by start time only to
        the day; a call held under the calls-per-second limit has no start time yet. So the
        queued are asked for first, then the started: a call leaving the queue in between is
        in the second answer."""

        def both() -> list[Any]:
            queued = self.client.calls.list(
                to=to, from_=from_, status="queued", page_size=LIST_PAGE_SIZE
            )
            started = self.client.calls.list(
                to=to, from_=from_, start_time_after=since.isoformat(), page_size=LIST_PAGE_SIZE
            )
            return [*queued, *started]

        try:
            calls = await asyncio.to_thread(both)
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, "")
            log.warning("listing calls failed: %s", translated)
            raise translated from None
        unique = {call.sid: seen(call) for call in calls}
        return list(unique.values())

    async def call(self, call_sid: str) -> CallSeen:
        try:
            return seen(await asyncio.to_thread(self.client.calls(call_sid).fetch))
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, call_sid)
            log.warning("fetching a call failed: %s", translated, extra={"call_sid": call_sid})
            raise translated from None

    async def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording (its audio and its resource) at Twilio; one already gone is
        left as it is, so that a delete repeated after a crash is no error."""
        try:
            await asyncio.to_thread(self.client.recordings(recording_sid).delete)
        except (TwilioRestException, TwilioException, OSError) as error:
            if isinstance(error, TwilioRestException) and error.status == 404:
                return
            translated = translate(error, "")
            log.warning("deleting recording %s failed: %s", recording_sid, translated)
            raise translated from None

    async def conference_name(self, conference_sid: str) -> str | None:
        """A conference's friendly name (Lifeline's rooms are named by their caller); None if
        Twilio knows no such conference."""
        try:
            room = await asyncio.to_thread(self.client.conferences(conference_sid).fetch)
        except (TwilioRestException, TwilioException, OSError) as error:
            if isinstance(error, TwilioRestException) and error.status == 404:
                return None
            translated = translate(error, "")
            log.warning("fetching conference %s failed: %s", conference_sid, translated)
            raise translated from None
        return str(room.friendly_name) if room.friendly_name else None

    async def recordings_since(self, since: datetime) -> list[RecordingSeen]:
        """The recordings Twilio made on or after `since`'s day (its list filters by day)."""

        def listed() -> list[Any]:
            found: list[Any] = self.client.recordings.list(
                date_created_after=since, page_size=RECORDINGS_PAGE_SIZE
            )
            return found

        try:
            found = await asyncio.to_thread(listed)
        except (TwilioRestException, TwilioException, OSError) as error:
            translated = translate(error, "")
            log.warning("listing recordings failed: %s", translated)
            raise translated from None
        return [
            RecordingSeen(
                sid=str(item.sid),
                call_sid=str(item.call_sid or ""),
                conference_sid=str(item.conference_sid or ""),
                source=str(item.source),
                status=str(item.status),
                duration=max(0, int(item.duration or 0)),
                channels=int(item.channels or 1),
                started=item.start_time.timestamp() if item.start_time else None,
                error_code=str(item.error_code or ""),
            )
            for item in found
        ]
