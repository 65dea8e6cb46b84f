"""Conference rooms (`<Dial><Conference>` and the Participants API): who comes and goes, when
each room starts and ends (and its recording with it), and the events its status callback
hears."""

from __future__ import annotations

from sim.phone.clock import SimTime
from sim.phone.conference import (
    Conference,
    ConferenceStatus,
    LeftBecause,
    Participant,
    Role,
    UnknownConference,
)
from sim.phone.conference_callbacks import ConferenceCallbacks
from sim.phone.ids import new_sid
from sim.phone.leg import CallbackSpec, Leg
from sim.phone.record import EventLog
from sim.phone.recordings import Recording, RecordingPlan, Recordings
from sim.phone.steps import HangupRequest
from sim.phone.timestamps import rfc2822

# `statusCallbackEvent` as `<Conference>` names them -> `StatusCallbackEvent` as sent.
CALLBACK_EVENTS = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
    "mute": "participant-mute",
    "hold": "participant-hold",
}


class Conferences:
    """Every conference the account has had; at most one live room per friendly name."""

    def __init__(
        self, time: SimTime, callbacks: ConferenceCallbacks, recordings: Recordings
    ) -> None:
        self._time = time
        self._callbacks = callbacks
        self._recordings = recordings
        self._all: dict[str, Conference] = {}
        self._reserved: dict[str, Participant] = {}  # call sid -> a Participants API participant
        self._recording: dict[str, Recording] = {}  # conference sid -> its recording, being made

    def get(self, sid: str) -> Conference:
        conference = self._all.get(sid)
        if conference is None:
            raise UnknownConference(sid)
        return conference

    def all(self) -> list[Conference]:
        return list(self._all.values())

    def live(self, name: str) -> Conference | None:
        return next(
            (
                c
                for c in self._all.values()
                if c.friendly_name == name and c.status is not ConferenceStatus.COMPLETED
            ),
            None,
        )

    def open(self, name: str, account_sid: str) -> Conference:
        """The live room of that name, or a new one (created by its first participant)."""
        conference = self.live(name)
        if conference is None:
            wall = self._time.wall()
            conference = Conference(
                sid=new_sid("CF"),
                account_sid=account_sid,
                friendly_name=name,
                log=EventLog(self._time),
                created_wall=wall,
                updated_wall=wall,
            )
            self._all[conference.sid] = conference
        return conference

    def current(self, call_sid: str) -> Participant | None:
        """Where the leg is now (in a room, or ringing to join one)."""
        for conference in self._all.values():
            found = conference.participants.get(call_sid)
            if found is not None:
                return found
        return None

    async def settle(self, seconds: float) -> None:
        await self._callbacks.settle(seconds)

    def clear(self) -> None:
        self._all.clear()
        self._reserved.clear()
        self._recording.clear()
        self._callbacks.clear()

    # -- comings and goings -------------------------------------------------------------------

    def reserve(
        self, conference: Conference, leg: Leg, role: Role, callback: CallbackSpec | None
    ) -> Participant:
        """A participant added through the REST API: listed while its call rings, in the room
        once it answers (`join`), failed if it never does (`not_answered`)."""
        participant = self._participant(conference, leg, role)
        self._reserved[leg.sid] = participant
        self._adopt_callback(conference, callback)
        return participant

    def reserved_for(self, call_sid: str) -> Participant | None:
        return self._reserved.get(call_sid)

    def join(
        self,
        conference: Conference,
        leg: Leg,
        role: Role,
        callback: CallbackSpec | None,
        recording: RecordingPlan | None,
    ) -> Participant:
        """The leg is in the room; if its join starts the room, its `recording` (as its
        `<Conference record>` asked) is the room's, from now until the room ends."""
        participant = self._reserved.pop(leg.sid, None) or self._participant(conference, leg, role)
        self._adopt_callback(conference, callback)
        participant.joined_at = self._time.now()
        participant.updated_wall = self._time.wall()
        leg.log.emit(
            "conference_join",
            conference=conference.friendly_name,
            conference_sid=conference.sid,
            label=participant.label,
        )
        conference.log.emit("join", call_sid=leg.sid, label=participant.label)
        self._notify(conference, "join", participant.callback_params())
        joined = conference.joined()
        if (
            conference.status is ConferenceStatus.INIT
            and len(joined) >= 2
            and any(p.start_on_enter for p in joined)
        ):
            conference.status = ConferenceStatus.IN_PROGRESS
            conference.updated_wall = self._time.wall()
            conference.log.emit("start")
            self._notify(conference, "start", {})
            if recording is not None:
                self._recording[conference.sid] = self._recordings.start_room(conference, recording)
        return participant

    def leave(self, participant: Participant, because: LeftBecause) -> None:
        """The participant is out: its leg's event, the callback, and the room may end."""
        conference = participant.conference
        if participant.left_because is not None:
            return
        self._reserved.pop(participant.call_sid, None)
        participant.left_because = because
        participant.updated_wall = self._time.wall()
        conference.participants.pop(participant.call_sid, None)
        participant.leg.log.emit(
            "conference_leave",
            conference=conference.friendly_name,
            conference_sid=conference.sid,
            reason=because.value,
        )
        conference.log.emit(
            "leave", call_sid=participant.call_sid, label=participant.label, reason=because.value
        )
        params = participant.callback_params()
        params["ParticipantCallStatus"] = participant.leg.status.value
        self._notify(conference, "leave", params)
        participant.gone.set()
        if conference.status is ConferenceStatus.COMPLETED:
            return
        kicked = because is LeftBecause.KICKED
        if participant.end_on_exit and participant.joined_at is not None:
            how = "kicked" if kicked else "left"
            self.end(conference, f"participant-with-end-conference-on-exit-{how}", participant)
        elif not conference.participants:
            how = "kicked" if kicked else "left"
            self.end(conference, f"last-participant-{how}", participant)

    def not_answered(self, participant: Participant) -> None:
        if participant.joined_at is None:
            self.leave(participant, LeftBecause.NOT_ANSWERED)

    def end(self, conference: Conference, reason: str, by: Participant | None) -> None:
        """Everyone still in the room leaves it; calls still ringing to join it are dropped."""
        if conference.status is ConferenceStatus.COMPLETED:
            return
        conference.status = ConferenceStatus.COMPLETED
        conference.reason_ended = reason
        conference.call_sid_ending = by.call_sid if by is not None else None
        conference.updated_wall = self._time.wall()
        for participant in list(conference.participants.values()):
            self.leave(participant, LeftBecause.CONFERENCE_ENDED)
            if participant.joined_at is None:
                participant.leg.interrupt(HangupRequest("api"))  # still ringing to join it
        conference.log.emit("end", reason=reason, call_sid=conference.call_sid_ending)
        recording = self._recording.pop(conference.sid, None)
        if recording is not None:
            self._recordings.stop(recording)
        params = {"ReasonConferenceEnded": reason}
        if by is not None:
            params["CallSidEndingConference"] = by.call_sid
            if by.label is not None:
                params["ParticipantLabelEndingConference"] = by.label
        self._notify(conference, "end", params)

    def update(
        self,
        participant: Participant,
        *,
        muted: bool | None,
        hold: bool | None,
        end_on_exit: bool | None,
    ) -> None:
        conference = participant.conference
        changes: dict[str, bool] = {}
        if muted is not None and muted != participant.muted:
            participant.muted = changes["muted"] = muted
        if hold is not None and hold != participant.hold:
            participant.hold = changes["hold"] = hold
        if end_on_exit is not None and end_on_exit != participant.end_on_exit:
            participant.end_on_exit = changes["end_conference_on_exit"] = end_on_exit
        if not changes:
            return
        participant.updated_wall = self._time.wall()
        participant.leg.log.emit("conference_update", conference_sid=conference.sid, **changes)
        conference.log.emit("update", call_sid=participant.call_sid, **changes)
        if "muted" in changes:
            self._notify(conference, "mute", participant.callback_params(), muted)
        if "hold" in changes:
            self._notify(conference, "hold", participant.callback_params(), hold)

    # -- helpers ------------------------------------------------------------------------------

    def _participant(self, conference: Conference, leg: Leg, role: Role) -> Participant:
        wall = self._time.wall()
        participant = Participant(
            leg=leg,
            conference=conference,
            label=role.label,
            start_on_enter=role.start_on_enter,
            end_on_exit=role.end_on_exit,
            muted=role.muted,
            created_wall=wall,
            updated_wall=wall,
        )
        conference.participants[leg.sid] = participant
        return participant

    def _adopt_callback(self, conference: Conference, callback: CallbackSpec | None) -> None:
        # The room keeps the first status callback it is given; later ones are ignored.
        if conference.callback is None and callback is not None:
            conference.callback = callback

    def _notify(
        self, conference: Conference, event: str, params: dict[str, str], on: bool | None = None
    ) -> None:
        spec = conference.callback
        if spec is None or event not in spec.events:
            return
        name = CALLBACK_EVENTS[event]
        if on is False:
            name = name.replace("-", "-un", 1)  # participant-unmute, participant-unhold
        sent = {
            "AccountSid": conference.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "SequenceNumber": str(conference.callback_sequence),
            "Timestamp": rfc2822(self._time.wall()),
            **params,
        }
        conference.callback_sequence += 1
        self._callbacks.send(conference.sid, conference.log, spec, sent)
