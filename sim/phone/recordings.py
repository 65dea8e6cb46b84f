"""Recordings of `<Dial>` bridges: made, stopped, kept and deleted, each owned by the call that ran
the Dial (the parent leg, as on Twilio); its status callbacks go out through RecordingCallbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sim.phone.clock import SimTime
from sim.phone.faults import Faults
from sim.phone.ids import new_sid
from sim.phone.leg import API_VERSION, CallbackSpec, Leg
from sim.phone.recording_callbacks import RecordingCallbacks
from sim.phone.timestamps import rfc2822

SOURCE = "DialVerb"
SILENT_RECORDING = 16102  # Twilio: "Voice Recording: Unavailable because recording is silent"


class RecordingStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ABSENT = "absent"
    DELETED = "deleted"


class UnknownRecording(Exception):
    def __init__(self, sid: str) -> None:
        super().__init__(sid)
        self.sid = sid


class RecordingInProgress(Exception):
    """Deleting a recording still being made: it can go once it has ended."""


@dataclass(frozen=True)
class RecordingPlan:
    """What a `<Dial record=...>` asked for, its callback URL resolved against the document."""

    from_ringing: bool
    channels: int
    track: str
    callback: CallbackSpec | None


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str  # the parent leg's: the call whose TwiML ran the Dial
    channels: int
    track: str
    created_wall: float  # also its start_time: a recording is created as it starts
    started_at: float  # simulated seconds
    faulted: bool  # under the `recordings` fault: it ends absent
    status: RecordingStatus = RecordingStatus.IN_PROGRESS
    duration: int | None = None  # whole simulated seconds, once it has ended
    error_code: int | None = None
    updated_wall: float | None = None

    @property
    def path(self) -> str:
        """The REST path of the resource (`.json` added) and of its media (as it is)."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{self.sid}"

    @property
    def has_media(self) -> bool:
        return self.status is RecordingStatus.COMPLETED


class Recordings:
    """Every recording the network has made (the latest `max_kept`), live, ended or deleted."""

    def __init__(
        self,
        time: SimTime,
        faults: Faults,
        callbacks: RecordingCallbacks,
        base_url: Callable[[], str],
        max_kept: int,
    ) -> None:
        self._time = time
        self._faults = faults
        self._callbacks = callbacks
        self._base_url = base_url
        self._max_kept = max_kept
        self._recordings: dict[str, Recording] = {}
        self._specs: dict[str, CallbackSpec] = {}

    def start(self, leg: Leg, plan: RecordingPlan) -> Recording:
        recording = Recording(
            sid=new_sid("RE"),
            account_sid=leg.account_sid,
            call_sid=leg.sid,
            channels=plan.channels,
            track=plan.track,
            created_wall=self._time.wall(),
            started_at=self._time.now(),
            faulted=self._faults.take_recording_fault(),
        )
        self._keep(recording)
        if plan.callback is not None:
            self._specs[recording.sid] = plan.callback
        leg.log.emit(
            "recording",
            status=recording.status.value,
            recording_sid=recording.sid,
            channels=recording.channels,
        )
        self._tell(leg, recording)
        return recording

    def stop(self, recording: Recording, leg: Leg) -> None:
        """The bridge (or the ringing, then the bridge) it recorded is over."""
        recording.duration = round(self._time.now() - recording.started_at)
        recording.updated_wall = self._time.wall()
        if recording.faulted:
            recording.status, recording.error_code = RecordingStatus.ABSENT, SILENT_RECORDING
        else:
            recording.status = RecordingStatus.COMPLETED
        leg.log.emit(
            "recording",
            status=recording.status.value,
            recording_sid=recording.sid,
            channels=recording.channels,
            duration=recording.duration,
            error_code=recording.error_code,
        )
        self._tell(leg, recording)
        self._specs.pop(recording.sid, None)

    def get(self, sid: str) -> Recording:
        """A recording the REST API can show: never a deleted one."""
        recording = self._recordings.get(sid)
        if recording is None or recording.status is RecordingStatus.DELETED:
            raise UnknownRecording(sid)
        return recording

    def delete(self, sid: str) -> None:
        recording = self.get(sid)
        if recording.status is RecordingStatus.IN_PROGRESS:
            raise RecordingInProgress(sid)
        recording.status = RecordingStatus.DELETED
        recording.updated_wall = self._time.wall()

    def all(self, include_deleted: bool = False) -> list[Recording]:
        return [
            recording
            for recording in self._recordings.values()
            if include_deleted or recording.status is not RecordingStatus.DELETED
        ]

    def base_url(self) -> str:
        return self._base_url().rstrip("/")

    def clear(self) -> None:
        self._recordings.clear()
        self._specs.clear()
        self._callbacks.clear()

    def _tell(self, leg: Leg, recording: Recording) -> None:
        spec = self._specs.get(recording.sid)
        if spec is not None and recording.status.value in spec.events:
            self._callbacks.send(leg, recording.sid, spec, self._params(recording))

    def _params(self, recording: Recording) -> dict[str, str]:
        """Twilio's recording status callback, as it stands now."""
        params = {
            "AccountSid": recording.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.base_url() + recording.path,
            "RecordingStatus": recording.status.value,
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.created_wall),
            "RecordingSource": SOURCE,
            "RecordingTrack": recording.track,
            "ErrorCode": str(recording.error_code or 0),
        }
        if recording.duration is not None:
            params["RecordingDuration"] = str(recording.duration)
        return params

    def _keep(self, recording: Recording) -> None:
        self._recordings[recording.sid] = recording
        for sid in list(self._recordings)[: max(0, len(self._recordings) - self._max_kept)]:
            del self._recordings[sid]


class DialRecorder:
    """One `<Dial>`'s recording, if it asked for one: started as ringing starts or once the
    parties are bridged (after the whisper: it is not in the recording), stopped when the
    Dial's bridge ends however it ends."""

    def __init__(self, recordings: Recordings, leg: Leg, plan: RecordingPlan | None) -> None:
        self._recordings = recordings
        self._leg = leg
        self._plan = plan
        self._recording: Recording | None = None

    def ringing(self) -> None:
        if self._plan is not None and self._plan.from_ringing:
            self._start(self._plan)

    def bridged(self) -> None:
        if self._plan is not None and not self._plan.from_ringing:
            self._start(self._plan)

    def stop(self) -> None:
        if self._recording is not None:
            self._recordings.stop(self._recording, self._leg)
            self._recording = None

    def _start(self, plan: RecordingPlan) -> None:
        if self._recording is None:
            self._recording = self._recordings.start(self._leg, plan)
