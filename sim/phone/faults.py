"""Injected faults: REST answers 429/500 for the next N requests (of one method, if told), a 500
answered after the request took effect (an answer lost on its way back), REST requests held until
released; status callbacks doubled, reordered or dropped; recordings that come out absent, and
recording media that answers 404 or 500."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["GET", "POST", "DELETE"]


class RestFault(BaseModel):
    """The next `count` REST requests (of `method`, if given) fail with `status`. With
    `carried_out` a 500 is answered after the request took effect: a call created, say, and
    its answer lost."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[429, 500]
    count: int = Field(ge=1, le=10_000)
    method: Method | None = None
    carried_out: bool = False

    @model_validator(mode="after")
    def _carried_out_only_on_500(self) -> RestFault:
        if self.carried_out and self.status != 500:
            raise ValueError("a 429 is never carried out: 'carried_out' goes with 500 only")
        return self


class HoldFault(BaseModel):
    """The next `count` REST requests (of `method`, if given) are held until released
    (`POST /sim/holds/release`): at `request`, before they take effect; at `answer`, after
    (the call exists, its answer waits)."""

    model_config = ConfigDict(extra="forbid")

    stage: Literal["request", "answer"]
    count: int = Field(default=1, ge=1, le=100)
    method: Method | None = None


class CallbackFault(BaseModel):
    """`duplicate`: every callback twice; `out_of_order`: the final one before the others;
    `drop`: none is sent (Twilio does not retry a lost one)."""

    model_config = ConfigDict(extra="forbid")

    duplicate: bool = False
    out_of_order: bool = False
    drop: bool = False
    call_sid: str | None = None


class RecordingFault(BaseModel):
    """The next `count` recordings to start come out `absent` with error 16102 (Twilio's silent
    recording, not stored): the call is bridged as ever; there is no media to fetch."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=10_000)


class MediaFault(BaseModel):
    """The next `count` fetches of recording media answer `status` (Twilio's error body), whether
    or not the recording exists: a storage outage (500) or media gone missing (404)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[404, 500]
    count: int = Field(ge=1, le=10_000)


class FaultsBody(BaseModel):
    """Body of `POST /sim/faults`; a part left out keeps its current setting."""

    model_config = ConfigDict(extra="forbid")

    rest: RestFault | None = None
    status_callbacks: CallbackFault | None = None
    hold: HoldFault | None = None
    recordings: RecordingFault | None = None
    recording_media: MediaFault | None = None


class Faults:
    def __init__(self) -> None:
        self._rest: RestFault | None = None
        self._callbacks: CallbackFault | None = None
        self._hold: HoldFault | None = None
        self._recordings: RecordingFault | None = None
        self._media: MediaFault | None = None

    def apply(self, body: FaultsBody) -> None:
        if body.rest is not None:
            self._rest = body.rest
        if body.status_callbacks is not None:
            self._callbacks = body.status_callbacks
        if body.hold is not None:
            self._hold = body.hold
        if body.recordings is not None:
            self._recordings = body.recordings
        if body.recording_media is not None:
            self._media = body.recording_media

    def clear(self) -> None:
        self._rest = None
        self._callbacks = None
        self._hold = None
        self._recordings = None
        self._media = None

    def take_rest_fault(self, method: str) -> RestFault | None:
        """How the next REST request, of `method`, must fail, if it must (uses one up)."""
        fault = self._rest
        if fault is None or fault.method not in {None, method}:
            return None
        remaining = fault.count - 1
        self._rest = fault.model_copy(update={"count": remaining}) if remaining else None
        return fault

    def take_hold(self, method: str) -> HoldFault | None:
        """Whether the next REST request, of `method`, is to be held, and where (uses one up)."""
        hold = self._hold
        if hold is None or hold.method not in {None, method}:
            return None
        remaining = hold.count - 1
        self._hold = hold.model_copy(update={"count": remaining}) if remaining else None
        return hold

    def take_recording_fault(self) -> bool:
        """Whether the recording starting now is to come out absent (uses one up)."""
        fault = self._recordings
        if fault is None:
            return False
        remaining = fault.count - 1
        self._recordings = fault.model_copy(update={"count": remaining}) if remaining else None
        return True

    def take_media_fault(self) -> MediaFault | None:
        """How the next fetch of recording media must fail, if it must (uses one up)."""
        fault = self._media
        if fault is None:
            return None
        remaining = fault.count - 1
        self._media = fault.model_copy(update={"count": remaining}) if remaining else None
        return fault

    def for_callbacks(self, call_sid: str) -> CallbackFault | None:
        fault = self._callbacks
        if fault is None or fault.call_sid not in {None, call_sid}:
            return None
        return fault

    def snapshot(self) -> dict[str, object]:
        return {
            "rest": self._rest.model_dump() if self._rest else None,
            "status_callbacks": self._callbacks.model_dump() if self._callbacks else None,
            "hold": self._hold.model_dump() if self._hold else None,
            "recordings": self._recordings.model_dump() if self._recordings else None,
            "recording_media": self._media.model_dump() if self._media else None,
        }
