"""Twilio's webhook parameters as Pydantic models, one per kind of request."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from routing.models import Answers, Call, Sid, caller_number


class TwilioForm(BaseModel):
    """The parameters every voice request carries; unknown ones are ignored, as Twilio adds more."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    call_sid: Sid = Field(alias="CallSid")
    account_sid: str = Field(alias="AccountSid", default="")
    caller: str = Field(alias="From", default="")
    called: str = Field(alias="To", default="")
    call_status: str = Field(alias="CallStatus", default="")

    def call(self, answers: Answers) -> Call:
        """The call as routing places it: the caller's number "" when withheld."""
        return Call(
            sid=self.call_sid, caller=caller_number(self.caller), line=self.called, answers=answers
        )


class DialledForm(TwilioForm):
    """A request on a leg that a `<Dial>` placed: `ParentCallSid` is the caller's call."""

    parent_call_sid: Annotated[str, Field(pattern=r"^(CA[0-9a-fA-F]{32})?$")] = Field(
        alias="ParentCallSid", default=""
    )


class GatherForm(TwilioForm):
    digits: Annotated[str, Field(max_length=32, pattern=r"^[0-9#*]*$")] = Field(
        alias="Digits", default=""
    )
    speech: Annotated[str, Field(max_length=500)] = Field(alias="SpeechResult", default="")


class AnsweredForm(TwilioForm):
    """A leg of an outbound call was answered; `AnsweredBy` is there when detection was asked."""

    answered_by: str = Field(alias="AnsweredBy", default="")


class HoldForm(TwilioForm):
    queue_time: int = Field(alias="QueueTime", default=0, ge=0)


class QueueExitForm(TwilioForm):
    queue_result: str = Field(alias="QueueResult", default="")
    queue_time: int = Field(alias="QueueTime", default=0, ge=0)


class DialForm(TwilioForm):
    dial_status: str = Field(alias="DialCallStatus", default="")
    bridged: str = Field(alias="DialBridged", default="")


class RoomEventForm(TwilioForm):
    """A conference's status callback about a participant (its CallSid is theirs)."""

    event: str = Field(alias="StatusCallbackEvent", default="")
    label: str = Field(alias="ParticipantLabel", default="")


class StatusForm(TwilioForm):
    sequence: int | None = Field(alias="SequenceNumber", default=None)
    duration: int | None = Field(alias="CallDuration", default=None)


class FallbackForm(BaseModel):
    """Twilio's request to the Fallback URL: the call's parameters plus what went wrong."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    call_sid: str = Field(alias="CallSid", default="")
    called: str = Field(alias="To", default="")
    digits: str = Field(alias="Digits", default="")
    speech: str = Field(alias="SpeechResult", default="")
    dial_status: str = Field(alias="DialCallStatus", default="")
    error_code: str = Field(alias="ErrorCode", default="")
    error_url: str = Field(alias="ErrorUrl", default="")


class RecordingForm(BaseModel):
    """Twilio's recording status callback. A `<Dial>`'s names the call that ran it (CallSid); a
    conference's names the room (ConferenceSid) and no call: whose it is, our URL says."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    call_sid: Annotated[str, Field(pattern=r"^(CA[0-9a-fA-F]{32})?$")] = Field(
        alias="CallSid", default=""
    )
    conference_sid: Annotated[str, Field(pattern=r"^(CF[0-9a-fA-F]{32})?$")] = Field(
        alias="ConferenceSid", default=""
    )
    recording_sid: Annotated[str, Field(pattern=r"^RE[0-9a-fA-F]{32}$")] = Field(
        alias="RecordingSid"
    )
    recording_status: Annotated[str, Field(max_length=32)] = Field(
        alias="RecordingStatus", default=""
    )
    duration: int = Field(alias="RecordingDuration", default=0, ge=0, le=86_400)
    channels: int = Field(alias="RecordingChannels", default=2, ge=1, le=2)
    start_time: Annotated[str, Field(max_length=64)] = Field(alias="RecordingStartTime", default="")
    error_code: Annotated[str, Field(max_length=16)] = Field(alias="ErrorCode", default="")
