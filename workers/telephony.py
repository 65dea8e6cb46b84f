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

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from lifeline.settings import Settings

log = logging.getLogger(__name__)

CALL_NOT_IN_PROGRESS = 21220
REQUEST_TIMEOUT_SECONDS = 10


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


def translate(error: Exception, call_sid: str) -> TelephonyError:
    if isinstance(error, TwilioRestException):
        if error.status == 404 or error.code == CALL_NOT_IN_PROGRESS:
            return CallGone(f"call has ended ({error.code})", call_sid)
        if error.status == 429:
            return RateLimited("Twilio rate limit (429)", call_sid)
        if error.status >= 500:
            return Unavailable(f"Twilio answered {error.status}", call_sid)
        return TelephonyError(f"Twilio refused the request ({error.status} {error.code})", call_sid)
    return Unavailable(f"Twilio unreachable: {type(error).__name__}", call_sid)


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
