"""Recordings, hourly, in two jobs: those Twilio made that Lifeline was never told of, found; those
past their retention period (RECORDING_RETENTION_DAYS), deleted at Twilio through its REST API,
then forgotten here, the audit log keeping which went, and when.

Twilio tells of a recording once (its recording status callback); told while Redis was away, it
would be unknown here, and so never found by a supervisor nor deleted when its time came. The
sweep reads Twilio's list of the last two days' recordings and keeps those of Lifeline's own
calls it does not know (a `<Dial>`'s, of a call whose record is kept, or of a callback's leg),
with what the record says: never another application's recordings on the same account. A warm
transfer's room (a conference's recording, which names no call) is Lifeline's if the conference
is named as Lifeline names its rooms, by the caller.

A delete repeated (a worker killed after Twilio's answer) finds the recording gone (404) and
carries on. One that Twilio refuses stays for the next run; Twilio unavailable or limiting ends
this run. Nothing is forgotten here before Twilio has let it go, and the forgetting and its audit
record are one step."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from routing import keys
from routing.audit import entry
from routing.callbacks import UnknownCallback
from routing.models import CallStatus, case_id_for
from routing.recordings import (
    Recording,
    RecordingKind,
    Recordings,
    RecordingStatus,
    about_call,
    last_digits,
)
from routing.transfers import call_of_room
from workers.runtime import Runtime, runtime
from workers.telephony import RateLimited, RecordingSeen, TelephonyError, Unavailable

log = logging.getLogger(__name__)

BATCH = 100
AT_ONCE = 8  # deletes in flight together: Twilio takes many more, a run keeps up with the line
RUN_SECONDS = 240.0  # one run's work, well inside its job timeout; the rest waits an hour
LOOK_BACK_SECONDS = 2 * 86_400  # as long as a call's record is kept (keys.CALL_TTL_SECONDS)
SETTLING_SECONDS = 600  # a recording younger than this may still be told of by its callback
OURS = "DialVerb"  # the only recordings Lifeline asks Twilio for


async def find_untold() -> dict[str, int]:
    async with runtime() as rt:
        return {"found": await find_untold_in(rt)}


async def delete_expired() -> dict[str, int]:
    async with runtime() as rt:
        return await delete_expired_in(rt)


async def find_untold_in(rt: Runtime) -> int:
    """Twilio's recordings of the last two days that are Lifeline's and that it does not know,
    kept: how many."""
    now = rt.clock.now()
    since = datetime.fromtimestamp(now - LOOK_BACK_SECONDS, UTC)
    recordings = Recordings(rt.redis)
    found = 0
    for seen in await rt.telephony.recordings_since(since):
        started = seen.started if seen.started is not None else now
        if (
            seen.status not in RecordingStatus.__members__.values()
            or now - started - seen.duration < SETTLING_SECONDS
            or await recordings.get(seen.sid) is not None
        ):
            continue
        if seen.conference_sid and not seen.call_sid:
            recording = await _room(rt, seen, started)
        elif seen.source == OURS:
            recording = await _ours(rt, seen, started)
        else:
            continue
        if recording is not None and await recordings.add_if_new(recording):
            found += 1
            log.warning(
                "recording %s was never told of: found in Twilio's list",
                seen.sid,
                extra={"call_sid": seen.call_sid},
            )
    return found


def _fields(seen: RecordingSeen, started: float) -> dict[str, object]:
    return {
        "sid": seen.sid,
        "started": started,
        "duration": seen.duration,
        "channels": seen.channels,
        "status": RecordingStatus(seen.status),
        "error_code": seen.error_code if seen.error_code not in ("", "0") else "",
    }


async def _room(rt: Runtime, seen: RecordingSeen, started: float) -> Recording | None:
    """A warm transfer's room, if the conference is Lifeline's: it is named by its caller, whose
    case is known from their CallSid even once their record has gone; and by whom they were
    sent on, while the record is kept."""
    name = await rt.telephony.conference_name(seen.conference_sid)
    call = call_of_room(name) if name else None
    if call is None:
        return None
    record = await rt.calls.get(call)
    sent = await rt.transfers.sent(call) if record is not None else None
    return Recording.model_validate(
        _fields(seen, started)
        | (about_call(record) or {"case_id": case_id_for(call)})
        | {"call_sid": call, "kind": RecordingKind.ROOM, "handler": sent.by if sent else ""}
    )


async def _ours(rt: Runtime, seen: RecordingSeen, started: float) -> Recording | None:
    """The recording as Lifeline keeps it, if its call is Lifeline's: a caller's (its record),
    or a callback's leg; None for a call Lifeline does not know."""
    fields = _fields(seen, started) | {"call_sid": seen.call_sid}
    record = await rt.calls.get(seen.call_sid)
    if record is not None:
        dispatched = record.status is CallStatus.DISPATCHED
        return Recording.model_validate(
            fields
            | about_call(record)
            | {
                "kind": RecordingKind.DISPATCH if dispatched else RecordingKind.CALL,
                "handler": "" if dispatched else record.handler,
            }
        )
    callback_id = await rt.redis.get(keys.callback_leg(seen.call_sid))
    if not callback_id:
        return None
    try:
        callback = await rt.callbacks.get(str(callback_id))
    except UnknownCallback:
        return None
    return Recording.model_validate(
        fields
        | {
            "kind": RecordingKind.CALLBACK,
            "case_id": callback.case_id,
            "digits": last_digits(callback.number),
            "queue": callback.queue,
            "handler": callback.handler,
        }
    )


async def delete_expired_in(rt: Runtime, run_seconds: float = RUN_SECONDS) -> dict[str, int]:
    before = rt.clock.now() - rt.settings.recording_retention_days * 86_400
    recordings = Recordings(rt.redis)
    deleted = kept = 0
    ends = time.monotonic() + run_seconds
    while time.monotonic() < ends:
        # Those Twilio refused this run stay at the front: skipped, not asked again.
        batch = await recordings.older_than(before, BATCH, skip=kept)
        if not batch:
            break
        outcomes = await _delete_at_twilio(rt, batch)
        gone = [item for item, outcome in zip(batch, outcomes, strict=True) if outcome == "gone"]
        if gone:
            await recordings.forget_audited(gone, _audit(rt, gone))
        deleted += len(gone)
        kept += len(batch) - len(gone)
        if "stop" in outcomes:
            break  # Twilio cannot take it now: the next run carries on
    if deleted or kept:
        log.info("retention: %d recordings deleted at Twilio, %d left for later", deleted, kept)
    return {"deleted": deleted, "kept": kept}


async def _delete_at_twilio(rt: Runtime, batch: list[Recording]) -> list[str]:
    """Each recording's outcome: gone (deleted, or gone already), refused, or stop (Twilio
    unavailable or limiting: the ones after it are not tried)."""
    slots = asyncio.Semaphore(AT_ONCE)
    stopped = asyncio.Event()

    async def one(recording: Recording) -> str:
        async with slots:
            if stopped.is_set():
                return "stop"
            try:
                await rt.telephony.delete_recording(recording.sid)
            except (Unavailable, RateLimited):
                stopped.set()
                return "stop"
            except TelephonyError:
                return "refused"  # in the log; tried again next run
            return "gone"

    return list(await asyncio.gather(*(one(recording) for recording in batch)))


def _audit(rt: Runtime, gone: list[Recording]) -> dict[str, str]:
    """One audit record for a batch: which recordings went (each one's case, handler, kind,
    start and length), so that the audit log keeps pace with a national line's recordings."""
    return entry(
        "retention",
        "recordings.deleted",
        f"{len(gone)} recordings",
        rt.clock.now(),
        retention_days=rt.settings.recording_retention_days,
        recordings=[
            {
                "sid": item.sid,
                "case_id": item.case_id,
                "handler": item.handler,
                "kind": item.kind.value,
                "started": item.started,
                "duration": item.duration,
            }
            for item in gone
        ],
    )
