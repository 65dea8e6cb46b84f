"""Recordings of `<Dial>` bridges, each owned by the call that ran the Dial (the parent leg, as
on Twilio), and of conference rooms, each owned by its room and by no call: made, stopped, kept
and deleted; their status callbacks go out through RecordingCallbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sim.phone.clock import SimTime
from sim.phone.conference import Conference
from sim.phone.errors import CallError
from sim.phone.faults import Faults
from sim.phone.ids import new_sid
from sim.phone.leg import API_VERSION, CallbackSpec, Leg
from sim.phone.record import EventLog
from sim.phone.recording_callbacks import KIND, RecordingCallbacks
from sim.phone.timestamps import rfc2822
from sim.phone.verbs import DialRecording, Document, RoomRecording

SOURCE = "DialVerb"
# The source of a room recorded by `<Conference record>`: the sim's reading of Twilio, not checked
# against a real account (docs/SIM.md, "Where the sim guesses").
ROOM_SOURCE = "StartConferenceRecordingAPI"
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


def callback_of(record: DialRecording | RoomRecording, document: Document) -> CallbackSpec | None:
    """The `recordingStatusCallback*` of a `<Dial>` or a `<Conference>`, its URL resolved."""
    if record.status_callback is None:
        return None
    return CallbackSpec(
        document.resolve(record.status_callback),
        record.status_callback_method,
        record.status_callback_events,
    )


@dataclass(frozen=True)
class RecordingPlan:
    """What a `<Dial record=...>` (or a `<Conference record>`) asked for, its callback URL
    resolved against the document."""

    from_ringing: bool
    channels: int
    track: str
    callback: CallbackSpec | None


@dataclass(frozen=True)
class Owner:
    """Where a recording's events and callback failures go: the Dial's leg, or the room."""

    log: EventLog
    failed: Callable[[CallError], None]

    @classmethod
    def of_leg(cls, leg: Leg) -> Owner:
        return cls(leg.log, lambda error: leg.record_error(error, KIND))

    @classmethod
    def of_room(cls, conference: Conference) -> Owner:
        def failed(error: CallError) -> None:
            conference.log.emit(
                "error", code=error.code, message=error.message, url=error.url, kind=KIND
            )

        return cls(conference.log, failed)


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str | None  # a Dial's: the parent leg's, the call whose TwiML ran it; a room's: None
    conference_sid: str | None  # a room's
    source: str
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
        self._owners: dict[str, Owner] = {}  # of the recordings being made
        self._specs: dict[str, CallbackSpec] = {}

    def start(self, leg: Leg, plan: RecordingPlan) -> Recording:
        """A Dial's bridge (or its ringing), recorded as the Dial asked."""
        recording = self._new(leg.account_sid, SOURCE, plan.channels, plan.track, call_sid=leg.sid)
        return self._begin(recording, Owner.of_leg(leg), plan.callback)

    def start_room(self, conference: Conference, plan: RecordingPlan) -> Recording:
        """A room that has just started, recorded mixed (Twilio's conference recordings are
        mono, whatever the plan)."""
        recording = self._new(
            conference.account_sid, ROOM_SOURCE, 1, "both", conference_sid=conference.sid
        )
        return self._begin(recording, Owner.of_room(conference), plan.callback)

    def stop(self, recording: Recording) -> None:
        """The bridge (or the ringing, then the bridge), or the room, it recorded is over."""
        recording.duration = round(self._time.now() - recording.started_at)
        recording.updated_wall = self._time.wall()
        if recording.faulted:
            recording.status, recording.error_code = RecordingStatus.ABSENT, SILENT_RECORDING
        else:
            recording.status = RecordingStatus.COMPLETED
        owner = self._owners.pop(recording.sid)
        owner.log.emit(
            "recording",
            status=recording.status.value,
            recording_sid=recording.sid,
            channels=recording.channels,
            duration=recording.duration,
            error_code=recording.error_code,
        )
        self._tell(owner, recording)
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
        self._owners.clear()
        self._specs.clear()
        self._callbacks.clear()

    def _new(
        self,
        account_sid: str,
        source: str,
        channels: int,
        track: str,
        call_sid: str | None = None,
        conference_sid: str | None = None,
    ) -> Recording:
        return Recording(
            sid=new_sid("RE"),
            account_sid=account_sid,
            call_sid=call_sid,
            conference_sid=conference_sid,
            source=source,
            channels=channels,
            track=track,
            created_wall=self._time.wall(),
            started_at=self._time.now(),
            faulted=self._faults.take_recording_fault(),
        )

    def _begin(self, recording: Recording, owner: Owner, spec: CallbackSpec | None) -> Recording:
        self._keep(recording)
        self._owners[recording.sid] = owner
        if spec is not None:
            self._specs[recording.sid] = spec
        owner.log.emit(
            "recording",
            status=recording.status.value,
            recording_sid=recording.sid,
            channels=recording.channels,
        )
        self._tell(owner, recording)
        return recording

    def _tell(self, owner: Owner, recording: Recording) -> None:
        spec = self._specs.get(recording.sid)
        if spec is not None and recording.status.value in spec.events:
            params = self._params(recording)
            self._callbacks.send(recording.sid, spec, params, owner.log, owner.failed)

    def _params(self, recording: Recording) -> dict[str, str]:
        """Twilio's recording status callback, as it stands now: a Dial's names its call and
        its track; a room's names the room, and no call."""
        params = {"AccountSid": recording.account_sid}
        if recording.call_sid is not None:
            params["CallSid"] = recording.call_sid
        if recording.conference_sid is not None:
            params["ConferenceSid"] = recording.conference_sid
        params |= {
            "RecordingSid": recording.sid,
            "RecordingUrl": self.base_url() + recording.path,
            "RecordingStatus": recording.status.value,
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.created_wall),
            "RecordingSource": recording.source,
            "ErrorCode": str(recording.error_code or 0),
        }
        if recording.call_sid is not None:
            params["RecordingTrack"] = recording.track
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
            self._recordings.stop(self._recording)
            self._recording = None

    def _start(self, plan: RecordingPlan) -> None:
        if self._recording is None:
            self._recording = self._recordings.start(self._leg, plan)
