"""What comes after a conversation: Twilio telling of its recording, and the caller's answer to
the feedback question."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from ivr.context import Ivr
from ivr.forms import GatherForm, RecordingForm
from ivr.states import FeedbackAsked, Recorded
from routing import after_call
from routing.after_call import Heard
from routing.decisions import Decision, Feedback, Nothing
from routing.feedback import day_of
from routing.recordings import RecordingKind


def _started(text: str) -> float | None:
    """RecordingStartTime (RFC 2822) as epoch seconds; None if absent or unreadable."""
    try:
        return parsedate_to_datetime(text).timestamp() if text else None
    except (TypeError, ValueError):
        return None


async def recording(ivr: Ivr, form: RecordingForm, state: Recorded) -> Decision:
    try:
        kind = RecordingKind(state.kind)
    except ValueError:
        kind = RecordingKind.CALL
    heard = Heard(
        sid=form.recording_sid,
        call_sid=form.call_sid,
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
