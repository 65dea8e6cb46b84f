"""A leg in `<Dial><Conference>`: it joins the room and stays until it hangs up, is kicked or
redirected, or the room ends; then the Dial's action (or the next verb) goes on."""

from __future__ import annotations

import asyncio

from sim.phone.conference import ConferenceStatus, LeftBecause, Role
from sim.phone.documents import request_ignoring_reply
from sim.phone.leg import CallbackSpec, Leg
from sim.phone.recordings import RecordingPlan, callback_of
from sim.phone.runtime import Runtime
from sim.phone.steps import Fetch, HungUp, Next
from sim.phone.verbs import ConferenceRoom, Dial, Document

# Twilio's hold music while a room has not started, when no waitUrl is given.
DEFAULT_WAIT_MUSIC = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
# What the Dial's action hears when the caller leaves a conference (Twilio's `answered`:
# "when calling a conference, the called party answered and was connected").
LEFT_CONFERENCE = {"DialCallStatus": "answered"}


async def run_conference(
    leg: Leg, rt: Runtime, verb: Dial, room: ConferenceRoom, document: Document
) -> Next | HungUp | None:
    action = None
    if verb.action is not None:
        action = Fetch(document.resolve(verb.action), verb.method, "dial-action")
    callback = None
    if room.status_callback is not None:
        url = document.resolve(room.status_callback)
        callback = CallbackSpec(url, room.status_callback_method, room.status_callback_events)
    wait_url = document.resolve(room.wait_url) if room.wait_url else room.wait_url
    recording = _recording_plan(room, document)
    leg.log.emit(
        "dial",
        targets=[],
        conference=room.name,
        timeout=verb.timeout,
        action=action.url if action else None,
    )
    reserved = rt.conferences.reserved_for(leg.sid)
    conference = (
        reserved.conference if reserved else rt.conferences.open(room.name, leg.account_sid)
    )
    role = Role(room.label, room.start_on_enter, room.end_on_exit, room.muted)
    participant = rt.conferences.join(conference, leg, role, callback, recording)
    participant.action = action
    if conference.status is ConferenceStatus.INIT and wait_url != "":
        leg.log.emit("play", url=wait_url or DEFAULT_WAIT_MUSIC, loop=0, digits=None)
    talk = leg.talk_seconds
    try:
        await asyncio.wait_for(
            participant.gone.wait(), rt.time.real(talk) if talk is not None else None
        )
    except TimeoutError:
        # The person on this leg has said all they had to say, and hangs up.
        leg.hanging_up()
        await leave_conference(leg, rt, LeftBecause.HANGUP, tell_app=True)
        return HungUp("callee")
    return Next(action.with_params(LEFT_CONFERENCE)) if action is not None else None


def _recording_plan(room: ConferenceRoom, document: Document) -> RecordingPlan | None:
    """What `<Conference record="record-from-start">` asks for: the room, on one channel."""
    if room.record is None:
        return None
    callback = callback_of(room.record, document)
    return RecordingPlan(from_ringing=False, channels=1, track="both", callback=callback)


async def leave_conference(leg: Leg, rt: Runtime, because: LeftBecause, *, tell_app: bool) -> None:
    """The leg hung up or was redirected while in (or ringing to join) a conference."""
    participant = rt.conferences.current(leg.sid)
    if participant is None:
        return
    rt.conferences.leave(participant, because)
    if tell_app and participant.action is not None:
        await request_ignoring_reply(leg, rt, participant.action.with_params(LEFT_CONFERENCE))
