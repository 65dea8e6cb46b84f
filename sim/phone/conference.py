"""A conference room and who is in it: its status, its participants and how each takes part."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum

from sim.phone.leg import CallbackSpec, Leg
from sim.phone.record import EventLog
from sim.phone.statuses import CallStatus
from sim.phone.steps import Fetch
from sim.phone.timestamps import iso


class ConferenceStatus(StrEnum):
    INIT = "init"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"


class ParticipantStatus(StrEnum):
    QUEUED = "queued"
    CONNECTING = "connecting"
    RINGING = "ringing"
    CONNECTED = "connected"
    COMPLETE = "complete"
    FAILED = "failed"


class LeftBecause(StrEnum):
    """Why a participant left: its `conference_leave` event's `reason`."""

    HANGUP = "hangup"
    REDIRECTED = "redirected"
    KICKED = "kicked"
    CONFERENCE_ENDED = "conference-ended"
    NOT_ANSWERED = "not-answered"


class UnknownConference(Exception):
    def __init__(self, sid: str) -> None:
        super().__init__(sid)
        self.sid = sid


class UnknownParticipant(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Role:
    """How a participant takes part, as `<Conference>` or the Participants API set it."""

    label: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    muted: bool = False


@dataclass(eq=False)
class Participant:
    leg: Leg
    conference: Conference
    label: str | None
    start_on_enter: bool
    end_on_exit: bool
    muted: bool
    created_wall: float
    updated_wall: float
    joined_at: float | None = None  # sim seconds; None while its call still rings
    action: Fetch | None = None  # the Dial's action, requested when it leaves
    hold: bool = False
    left_because: LeftBecause | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # left without its leg's doing

    @property
    def call_sid(self) -> str:
        return self.leg.sid

    @property
    def status(self) -> ParticipantStatus:
        if self.left_because is LeftBecause.NOT_ANSWERED:
            return ParticipantStatus.FAILED
        if self.left_because is not None:
            return ParticipantStatus.COMPLETE
        if self.joined_at is not None:
            return ParticipantStatus.CONNECTED
        if self.leg.status is CallStatus.QUEUED:
            return ParticipantStatus.QUEUED
        if self.leg.status is CallStatus.RINGING:
            return ParticipantStatus.RINGING
        return ParticipantStatus.CONNECTING

    def callback_params(self) -> dict[str, str]:
        params = {
            "CallSid": self.call_sid,
            "Muted": _flag(self.muted),
            "Hold": _flag(self.hold),
            "Coaching": "false",
            "EndConferenceOnExit": _flag(self.end_on_exit),
            "StartConferenceOnEnter": _flag(self.start_on_enter),
        }
        if self.label is not None:
            params["ParticipantLabel"] = self.label
        return params

    def view(self, now: float) -> dict[str, object]:
        return {
            "call_sid": self.call_sid,
            "label": self.label,
            "status": self.status.value,
            "muted": self.muted,
            "hold": self.hold,
            "start_conference_on_enter": self.start_on_enter,
            "end_conference_on_exit": self.end_on_exit,
            "in_conference_for": (
                round(now - self.joined_at, 3) if self.joined_at is not None else None
            ),
        }


@dataclass(eq=False)
class Conference:
    sid: str
    account_sid: str
    friendly_name: str
    log: EventLog
    created_wall: float
    updated_wall: float
    status: ConferenceStatus = ConferenceStatus.INIT
    participants: dict[str, Participant] = field(default_factory=dict)  # by call sid
    callback: CallbackSpec | None = None
    callback_sequence: int = 0
    reason_ended: str | None = None
    call_sid_ending: str | None = None

    def participant(self, key: str) -> Participant:
        """By CallSid or by label, as the Participants API looks them up."""
        found = self.participants.get(key)
        if found is None:
            found = next((p for p in self.participants.values() if p.label == key), None)
        if found is None:
            raise UnknownParticipant(key)
        return found

    def joined(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.joined_at is not None]

    def view(self, now: float) -> dict[str, object]:
        return {
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "status": self.status.value,
            "created_at": iso(self.created_wall),
            "updated_at": iso(self.updated_wall),
            "reason_conference_ended": self.reason_ended,
            "call_sid_ending_conference": self.call_sid_ending,
            "participants": [p.view(now) for p in self.participants.values()],
            "events": self.log.events,
        }


def _flag(value: bool) -> str:
    return "true" if value else "false"
