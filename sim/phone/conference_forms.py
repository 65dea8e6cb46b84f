"""The Twilio REST forms for Conferences and their Participants, checked as Twilio does."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData

from sim.phone.calls import OutboundPlan
from sim.phone.conference import Role
from sim.phone.config import CALL_PROGRESS_EVENTS
from sim.phone.leg import CallbackSpec
from sim.phone.network import OutboundRequest, ParticipantRequest
from sim.phone.rest_forms import TwilioApiError, ring_timeout, valid_method, valid_url
from sim.phone.schema import BEEP, CONFERENCE_EVENTS
from sim.phone.steps import Inline

INVALID_PARAMETER = 20001


def _events(values: list[str], allowed: frozenset[str]) -> frozenset[str]:
    events = frozenset(event for value in values for event in value.split())
    unknown = events - allowed
    if unknown:
        raise TwilioApiError(400, 21626, f"Invalid StatusCallbackEvent {sorted(unknown)[0]}")
    return events


def _maybe(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() not in {"true", "false"}:
        raise TwilioApiError(400, INVALID_PARAMETER, f"{name} must be true or false")
    return value.lower() == "true"


def _flag(value: str | None, name: str, default: bool) -> bool:
    given = _maybe(value, name)
    return default if given is None else given


class CreateParticipantForm(BaseModel):
    """`POST Conferences/{sid}/Participants.json`; recording, coaching and SIP parameters are
    accepted and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    to: str = Field("", alias="To")
    from_: str = Field("", alias="From")
    label: str | None = Field(None, alias="Label")
    status_callback: str | None = Field(None, alias="StatusCallback")
    status_callback_method: str = Field("POST", alias="StatusCallbackMethod")
    status_callback_event: list[str] = Field([], alias="StatusCallbackEvent")
    timeout: str | None = Field(None, alias="Timeout")
    muted: str | None = Field(None, alias="Muted")
    beep: str | None = Field(None, alias="Beep")
    start_conference_on_enter: str | None = Field(None, alias="StartConferenceOnEnter")
    end_conference_on_exit: str | None = Field(None, alias="EndConferenceOnExit")
    wait_url: str | None = Field(None, alias="WaitUrl")
    wait_method: str = Field("POST", alias="WaitMethod")
    conference_status_callback: str | None = Field(None, alias="ConferenceStatusCallback")
    conference_status_callback_method: str = Field("POST", alias="ConferenceStatusCallbackMethod")
    conference_status_callback_event: list[str] = Field([], alias="ConferenceStatusCallbackEvent")

    @classmethod
    def from_form(cls, form: FormData) -> CreateParticipantForm:
        fields: dict[str, object] = dict(form.items())
        for name in ("StatusCallbackEvent", "ConferenceStatusCallbackEvent"):
            fields[name] = form.getlist(name)
        return cls.model_validate(fields)

    def request(self, conference_name: str) -> ParticipantRequest:
        if not self.to.strip():
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not self.from_.strip():
            raise TwilioApiError(400, 21213, "No 'From' number is specified")
        if self.beep not in {None, "", *BEEP}:
            raise TwilioApiError(400, INVALID_PARAMETER, f"Invalid Beep {self.beep!r}")
        valid_method(self.wait_method, "WaitMethod")
        wait_url = valid_url(self.wait_url, "WaitUrl") if self.wait_url else self.wait_url
        role = Role(
            label=self.label or None,
            start_on_enter=_flag(self.start_conference_on_enter, "StartConferenceOnEnter", True),
            end_on_exit=_flag(self.end_conference_on_exit, "EndConferenceOnExit", False),
            muted=_flag(self.muted, "Muted", False),
        )
        call = OutboundRequest(
            to=self.to.strip(),
            from_=self.from_.strip(),
            plan=OutboundPlan(
                start=Inline(joining_twiml(conference_name, wait_url)),
                ring_timeout=ring_timeout(self.timeout),
                machine_detection=None,
            ),
            fallback=None,
            callbacks=self._call_callbacks(),
        )
        return ParticipantRequest(
            call=call, role=role, conference_callback=self._conference_callback()
        )

    def _call_callbacks(self) -> CallbackSpec | None:
        if not self.status_callback:
            return None
        events = _events(self.status_callback_event, CALL_PROGRESS_EVENTS)
        return CallbackSpec(
            url=valid_url(self.status_callback, "StatusCallback"),
            method=valid_method(self.status_callback_method, "StatusCallbackMethod"),
            events=frozenset(events | {"completed"}),
        )

    def _conference_callback(self) -> CallbackSpec | None:
        if not self.conference_status_callback:
            return None
        events = _events(self.conference_status_callback_event, CONFERENCE_EVENTS)
        return CallbackSpec(
            url=valid_url(self.conference_status_callback, "ConferenceStatusCallback"),
            method=valid_method(
                self.conference_status_callback_method, "ConferenceStatusCallbackMethod"
            ),
            events=events,
        )


def joining_twiml(conference_name: str, wait_url: str | None) -> str:
    """What a participant's call runs once answered: it joins the room, and hangs up when it
    leaves (the participant's own settings were given when it was added)."""
    response = ET.Element("Response")
    room = ET.SubElement(ET.SubElement(response, "Dial"), "Conference")
    room.text = conference_name
    if wait_url is not None:
        room.set("waitUrl", wait_url)
    return ET.tostring(response, encoding="unicode")


class UpdateParticipantForm(BaseModel):
    """`POST .../Participants/{CallSid or Label}.json`: Hold, Muted and EndConferenceOnExit
    take effect; the announcement and hold-music parameters are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    muted: str | None = Field(None, alias="Muted")
    hold: str | None = Field(None, alias="Hold")
    end_conference_on_exit: str | None = Field(None, alias="EndConferenceOnExit")

    @classmethod
    def from_form(cls, form: FormData) -> UpdateParticipantForm:
        return cls.model_validate(dict(form.items()))

    def changes(self) -> dict[str, bool | None]:
        return {
            "muted": _maybe(self.muted, "Muted"),
            "hold": _maybe(self.hold, "Hold"),
            "end_on_exit": _maybe(self.end_conference_on_exit, "EndConferenceOnExit"),
        }


class UpdateConferenceForm(BaseModel):
    """`POST Conferences/{sid}.json`: `Status=completed` ends it; AnnounceUrl is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: str | None = Field(None, alias="Status")

    @classmethod
    def from_form(cls, form: FormData) -> UpdateConferenceForm:
        return cls.model_validate(dict(form.items()))

    def ends(self) -> bool:
        if self.status is None:
            return False
        if self.status != "completed":
            raise TwilioApiError(400, INVALID_PARAMETER, f"Invalid Status {self.status!r}")
        return True
