"""Recordings, hourly: those Twilio made that Lifeline was never told of, found; those past
their retention period (RECORDING_RETENTION_DAYS), deleted at Twilio through its REST API, then
forgotten here, the audit log keeping that each one was, and when it went.

Twilio tells of a recording once (its recording status callback); told while Redis was away, it
would be unknown here, and so never found by a supervisor nor deleted when its time came. The
sweep reads Twilio's list of the last two days' recordings and keeps any it does not know, with
what the call's record says (the case, the caller's last digits, the handler); a callback's leg
has no such record, and its recording is kept without a case.

A delete repeated (a worker killed between Twilio's answer and the record being forgotten) finds
the recording gone (404) and carries on. One that Twilio refuses stays for the next run, and
Twilio unavailable or limiting ends this run: nothing is forgotten here before Twilio has let it
go."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from routing.models import CallStatus
from routing.recordings import (
    Recording,
    RecordingKind,
    Recordings,
    RecordingStatus,
    about_call,
)
from workers.runtime import Runtime, runtime
from workers.telephony import RateLimited, RecordingSeen, TelephonyError, Unavailable

log = logging.getLogger(__name__)

BATCH = 100
RUN_SECONDS = 240.0  # one run's work, well inside its job timeout; the rest waits an hour
LOOK_BACK_SECONDS = 2 * 86_400  # as long as a call's record is kept (keys.CALL_TTL_SECONDS)
SETTLING_SECONDS = 600  # a recording younger than this may still be told of by its callback


async def housekeeping() -> dict[str, int]:
    async with runtime() as rt:
        found = await find_untold_in(rt)
        return {"found": found} | await delete_expired_in(rt)


async def find_untold_in(rt: Runtime) -> int:
    """Twilio's recordings of the last two days that Lifeline does not know, kept: how many."""
    now = rt.clock.now()
    since = datetime.fromtimestamp(now - LOOK_BACK_SECONDS, UTC)
    recordings = Recordings(rt.redis)
    found = 0
    for seen in await rt.telephony.recordings_since(since):
        started = seen.started if seen.started is not None else now
        if seen.status not in RecordingStatus.__members__.values() or (
            now - started - seen.duration < SETTLING_SECONDS
        ):
            continue
        if await recordings.get(seen.sid) is not None:
            continue
        if await recordings.add_if_new(await _from_list(rt, seen, started)):
            found += 1
            log.warning(
                "recording %s was never told of: found in Twilio's list",
                seen.sid,
                extra={"call_sid": seen.call_sid},
            )
    return found


async def _from_list(rt: Runtime, seen: RecordingSeen, started: float) -> Recording:
    record = await rt.calls.get(seen.call_sid)
    dispatched = record is not None and record.status is CallStatus.DISPATCHED
    return Recording(
        sid=seen.sid,
        call_sid=seen.call_sid,
        kind=RecordingKind.DISPATCH if dispatched else RecordingKind.CALL,
        handler=record.handler if record is not None and not dispatched else "",
        started=started,
        duration=seen.duration,
        channels=seen.channels,
        status=RecordingStatus(seen.status),
        error_code=seen.error_code if seen.error_code not in ("", "0") else "",
        **(about_call(record) or {"case_id": ""}),
    )


async def delete_expired_in(rt: Runtime, run_seconds: float = RUN_SECONDS) -> dict[str, int]:
    now = rt.clock.now()
    before = now - rt.settings.recording_retention_days * 86_400
    recordings = Recordings(rt.redis)
    deleted = kept = 0
    ends = time.monotonic() + run_seconds
    while time.monotonic() < ends:
        batch = await recordings.older_than(before, BATCH)
        batch = batch[kept:]  # those Twilio would not delete this run stay at the front
        if not batch:
            break
        for recording in batch:
            try:
                await rt.telephony.delete_recording(recording.sid)
            except (Unavailable, RateLimited):
                ends = 0.0  # Twilio cannot take it now: the next run tries again
                kept += 1
                break
            except TelephonyError:
                kept += 1  # refused: left for a person to see in the log, tried again later
                continue
            await rt.audit.record(
                "retention",
                "recording.deleted",
                recording.sid,
                rt.clock.now(),
                case_id=recording.case_id,
                handler=recording.handler,
                kind=recording.kind.value,
                started=recording.started,
                duration=recording.duration,
                retention_days=rt.settings.recording_retention_days,
            )
            await recordings.forget(recording)
            deleted += 1
    if deleted or kept:
        log.info("retention: %d recordings deleted at Twilio, %d left for later", deleted, kept)
    return {"deleted": deleted, "kept": kept}
