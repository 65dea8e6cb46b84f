"""What comes after a conversation: Twilio telling of its recording, and the caller's answer to
the feedback question."""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime

from ivr.context import Ivr
from ivr.forms import GatherForm, RecordingForm
from ivr.states import FeedbackAsked, Recorded
from routing import after_call
from routing.after_call import Heard
from routing.decisions import Decision, Feedback, Nothing
from routing.feedback import day_of
from routing.recordings import RecordingKind

log = logging.getLogger(__name__)


def _started(text: str) -> float | None:
    """RecordingStartTime (RFC 2822) as epoch seconds; None if absent or unreadable."""
    try:
        return parsedate_to_datetime(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None


def _kind(text: str) -> RecordingKind:
    try:
        return RecordingKind(text)
    except ValueError:
        return RecordingKind.CALL


async def recording(ivr: Ivr, form: RecordingForm, state: Recorded) -> Decision:
    """Kept with the call it was of: a `<Dial>`'s names it (CallSid); a room's does not (Twilio
    sends none for a conference), and our signed URL carries the caller's. One tied to no call
    is refused (logged, nothing kept): there is no case to keep it with."""
    kind = _kind(state.kind)
    call = state.call if kind is RecordingKind.ROOM else form.call_sid
    if not call:
        log.warning(
            "recording %s (%s) names no call: not kept",
            form.recording_sid,
            kind.value,
            extra={"conference_sid": form.conference_sid},
        )
        return Nothing()
    heard = Heard(
        sid=form.recording_sid,
        call_sid=call,
        status=form.recording_status,
        duration=form.duration,
        channels=form.channels,
        started=_started(form.start_time),
        error_code=form.error_code,
        kind=kind,
        handler=state.handler,
        callback=state.cb,
    )
    await after_call.recorded(ivr.floor, heard)
    return Nothing()


async def feedback_answer(ivr: Ivr, form: GatherForm, state: FeedbackAsked) -> Decision:
    floor = ivr.floor
    asked = Feedback(
        locale=state.locale,
        queue=state.queue,
        handler=state.handler,
        day=state.day or day_of(floor.clock.now()),
        attempt=state.attempt,
    )
    return await after_call.answer(floor.feedback, form.call_sid, asked, form.digits)
