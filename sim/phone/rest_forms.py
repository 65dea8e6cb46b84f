"""The Twilio REST forms the sim accepts (Calls create and update), checked as Twilio does."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData

from sim.phone.calls import OutboundPlan
from sim.phone.config import CALL_PROGRESS_EVENTS
from sim.phone.leg import CallbackSpec
from sim.phone.network import OutboundRequest
from sim.phone.steps import Fetch, Inline, Step

DEFAULT_RING_TIMEOUT = 60
MAX_RING_TIMEOUT = 600


class TwilioApiError(Exception):
    """An error answered in Twilio's shape: {code, message, more_info, status}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CreateCallForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    to: str = Field("", alias="To")
    from_: str = Field("", alias="From")
    url: str | None = Field(None, alias="Url")
    twiml: str | None = Field(None, alias="Twiml")
    method: str = Field("POST", alias="Method")
    fallback_url: str | None = Field(None, alias="FallbackUrl")
    fallback_method: str = Field("POST", alias="FallbackMethod")
    status_callback: str | None = Field(None, alias="StatusCallback")
    status_callback_event: list[str] = Field([], alias="StatusCallbackEvent")
    status_callback_method: str = Field("POST", alias="StatusCallbackMethod")
    timeout: str | None = Field(None, alias="Timeout")
    machine_detection: str | None = Field(None, alias="MachineDetection")

    @classmethod
    def from_form(cls, form: FormData) -> CreateCallForm:
        fields: dict[str, object] = dict(form.items())
        fields["StatusCallbackEvent"] = form.getlist("StatusCallbackEvent")
        return cls.model_validate(fields)

    def request(self) -> OutboundRequest:
        if not self.to.strip():
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not self.from_.strip():
            raise TwilioApiError(400, 21213, "No 'From' number is specified")
        start: Step
        if self.twiml:
            start = Inline(self.twiml)
        elif self.url:
            start = Fetch(valid_url(self.url, "Url"), valid_method(self.method, "Method"), "voice")
        else:
            raise TwilioApiError(400, 21205, "Url parameter is required")
        fallback = None
        if self.fallback_url:
            fallback_method = valid_method(self.fallback_method, "FallbackMethod")
            fallback = Fetch(
                valid_url(self.fallback_url, "FallbackUrl"), fallback_method, "fallback"
            )
        return OutboundRequest(
            to=self.to.strip(),
            from_=self.from_.strip(),
            plan=OutboundPlan(
                start=start,
                ring_timeout=ring_timeout(self.timeout),
                machine_detection=_machine_detection(self.machine_detection),
            ),
            fallback=fallback,
            callbacks=self._callbacks(),
        )

    def _callbacks(self) -> CallbackSpec | None:
        if not self.status_callback:
            return None
        events = {event for value in self.status_callback_event for event in value.split()}
        unknown = events - CALL_PROGRESS_EVENTS
        if unknown:
            raise TwilioApiError(400, 21626, f"Invalid StatusCallbackEvent {sorted(unknown)[0]}")
        return CallbackSpec(
            url=valid_url(self.status_callback, "StatusCallback"),
            method=valid_method(self.status_callback_method, "StatusCallbackMethod"),
            # Twilio always sends `completed` once a StatusCallback is given.
            events=frozenset(events | {"completed"}),
        )


class UpdateCallForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str | None = Field(None, alias="Url")
    twiml: str | None = Field(None, alias="Twiml")
    method: str = Field("POST", alias="Method")
    status: str | None = Field(None, alias="Status")

    @classmethod
    def from_form(cls, form: FormData) -> UpdateCallForm:
        return cls.model_validate(dict(form.items()))

    def redirect_step(self) -> Step | None:
        if self.twiml:
            return Inline(self.twiml)
        if self.url:
            return Fetch(
                valid_url(self.url, "Url"), valid_method(self.method, "Method"), "redirect"
            )
        return None

    def hang_up_status(self) -> str | None:
        if self.status is None:
            return None
        if self.status not in {"completed", "canceled"}:
            raise TwilioApiError(400, 21218, f"Invalid Status {self.status!r}")
        return self.status


def valid_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise TwilioApiError(400, 21205, f"{name} is not a valid URL: {value}")
    return value


def valid_method(value: str, name: str) -> str:
    if value.upper() not in {"GET", "POST"}:
        raise TwilioApiError(400, 21209, f"{name} must be GET or POST")
    return value.upper()


def ring_timeout(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_RING_TIMEOUT
    try:
        seconds = int(value)
    except ValueError:
        raise TwilioApiError(400, 21208, f"Timeout must be an integer, not {value!r}") from None
    if not 1 <= seconds <= MAX_RING_TIMEOUT:
        raise TwilioApiError(400, 21208, f"Timeout must be between 1 and {MAX_RING_TIMEOUT}")
    return seconds


def _machine_detection(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in {"Enable", "DetectMessageEnd"}:
        raise TwilioApiError(400, 21207, "MachineDetection must be Enable or DetectMessageEnd")
    return value
