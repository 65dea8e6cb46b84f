"""Recordings past their retention period (RECORDING_RETENTION_DAYS): deleted at Twilio through
its REST API, then forgotten here; the audit log keeps that each one was, and when it went.

A delete repeated (a worker killed between Twilio's answer and the record being forgotten) finds
the recording gone (404) and carries on. One that Twilio refuses stays for the next run, and
Twilio unavailable or limiting ends this run: nothing is forgotten here before Twilio has let it
go."""

from __future__ import annotations

import logging
import time

from routing.recordings import Recordings
from workers.runtime import Runtime, runtime
from workers.telephony import RateLimited, TelephonyError, Unavailable

log = logging.getLogger(__name__)

BATCH = 100
RUN_SECONDS = 240.0  # one run's work, well inside its job timeout; the rest waits an hour


async def delete_expired() -> dict[str, int]:
    async with runtime() as rt:
        return await delete_expired_in(rt)


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
