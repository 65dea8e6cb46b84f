"""What comes after a conversation, as use cases: Twilio telling of its recording (kept with
the case, found again by a supervisor: routing/recordings.py), and the feedback question the
caller may be asked when their handler ends the call, and their answer (routing/feedback.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from pydantic import BaseModel

from prompts.catalogue import Locale, PromptId
from routing.callbacks import UnknownCallback
from routing.decisions import Decision, Feedback, Goodbye, Nothing, say
from routing.feedback import ASKS, KEYS, FeedbackCounts, day_of, wanted
from routing.floor import Floor
from routing.models import case_id_for
from routing.recordings import (
    Recording,
    RecordingKind,
    RecordingStatus,
    about_call,
    last_digits,
)

log = logging.getLogger(__name__)

# The feedback question is given up (the call ends) if Redis has not answered by then: well
# inside a webhook's budget, whose safe answer would route a caller whose call is over.
FEEDBACK_WITHIN_SECONDS = 1.0


class Heard(BaseModel):
    """What Twilio's recording status callback says, with what our URL carried."""

    sid: str
    # The call that ran the <Dial> (the caller's, or a callback's first leg); for a warm
    # transfer's room, the caller's (from our URL: Twilio's callback names no call).
    call_sid: str
    status: str
    duration: int = 0
    channels: int = 2
    started: float | None = None
    error_code: str = ""
    kind: RecordingKind
    handler: str = ""
    callback: str = ""


async def recorded(floor: Floor, heard: Heard) -> Recording | None:
    """A recording is complete (or has failed): kept with the case, the caller's last digits,
    the queue and the handler, found from the call or the callback. Twilio's other events
    (in progress) are not kept."""
    try:
        status = RecordingStatus(heard.status)
    except ValueError:
        return None
    about = await _about(floor, heard)
    recording = Recording(
        sid=heard.sid,
        call_sid=heard.call_sid,
        kind=heard.kind,
        handler=heard.handler or await _sent_on_by(floor, heard),
        started=heard.started if heard.started is not None else floor.clock.now() - heard.duration,
        duration=heard.duration,
        channels=heard.channels,
        status=status,
        error_code=heard.error_code if heard.error_code not in ("", "0") else "",
        **about,
    )
    await floor.recordings.add(recording)
    ids = {"call_sid": heard.call_sid, "case_id": recording.case_id}
    if recording.playable:
        log.info("recording %s kept (%d s)", recording.sid, recording.duration, extra=ids)
    else:
        log.warning(
            "recording %s %s (error %s)", recording.sid, status.value, heard.error_code, extra=ids
        )
    return recording


async def _sent_on_by(floor: Floor, heard: Heard) -> str:
    """A room's handler when its URL did not name them (a dispatcher's leg, joining without
    Redis, may start the room): the one who sent the caller on."""
    if heard.kind is not RecordingKind.ROOM:
        return ""
    sent = await floor.transfers.sent(heard.call_sid)
    return sent.by if sent is not None else ""


async def _about(floor: Floor, heard: Heard) -> dict[str, str]:
    if heard.kind is RecordingKind.CALLBACK and heard.callback:
        try:
            callback = await floor.callbacks.get(heard.callback)
        except UnknownCallback:
            return {"case_id": heard.callback}
        return {
            "case_id": callback.case_id,
            "digits": last_digits(callback.number),
            "queue": callback.queue,
        }
    # A call put through with Redis gone has no record: its case id is its CallSid's.
    return about_call(await floor.calls.get(heard.call_sid)) or {
        "case_id": case_id_for(heard.call_sid)
    }


class Caller(NamedTuple):
    """Whom the question would be for: their language, queue, and whether an emergency."""

    locale: Locale
    queue: str
    emergency: bool


async def after_handler(
    floor: Floor,
    call_sid: str,
    handler: str,
    caller: Callable[[], Awaitable[Caller | None]],
    callback: bool = False,
) -> Decision:
    """The handler has ended the call and the caller is still on the line: the question, if
    the rules ask this caller (counted as asked); otherwise nothing, and the call ends. With
    nobody asked (the packaged rules), nothing is read (`caller` is not called). The call is
    over whatever happens here: a failure, or Redis slow (FEEDBACK_WITHIN_SECONDS, well inside
    the webhook's own budget, whose safe answer would route the caller again), ends it
    quietly."""
    try:
        async with asyncio.timeout(FEEDBACK_WITHIN_SECONDS):
            rule = (await floor.rulebook.active()).feedback
            if not rule.share:
                return Nothing()
            found = await caller()
            if found is None:
                return Nothing()
            degraded = (await floor.modes.current()).degraded
            if not wanted(rule, call_sid, found.queue, found.emergency, degraded, callback):
                return Nothing()
            day = day_of(floor.clock.now())
            await floor.feedback.asked(call_sid, found.queue, handler, day)
    except Exception:
        log.exception("feedback question not asked", extra={"call_sid": call_sid})
        return Nothing()
    return Feedback(locale=found.locale, queue=found.queue, handler=handler, day=day)


async def answer(
    counts: FeedbackCounts,
    call_sid: str,
    asked: Feedback,
    digits: str,
) -> Decision:
    """The caller's key: counted and thanked; a key that is no answer, asked once more; no
    key (the question's own goodbye already played), nothing more."""
    if not digits:
        return Nothing()
    chosen_answer = KEYS.get(digits[:1])
    if chosen_answer is None:
        if asked.attempt + 1 < ASKS:
            return asked.model_copy(
                update={"attempt": asked.attempt + 1, "say": say(PromptId.NOT_UNDERSTOOD)}
            )
        return Goodbye(locale=asked.locale, say=say(PromptId.FEEDBACK_GOODBYE))
    await counts.answered(call_sid, chosen_answer, asked.queue, asked.handler, asked.day)
    return Goodbye(locale=asked.locale, say=say(PromptId.FEEDBACK_THANKS))
