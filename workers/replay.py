"""Replaying the contingency journal into the clinical system once it is back, in small jobs:
one batch each (a second's worth at `REPLAY_PER_SECOND`), open cases first, the next batch put on
the agenda for the sweep to start when due. No job sleeps, and none runs for long.

A batch stops the replay when the system fails again or the mode is degraded; the entries left
wait, pending, for the next replay (the probe starts one when the system is back).
"""

from __future__ import annotations

import logging
import math
import time

import httpx
from pydantic import ValidationError

from routing.agenda import SWEEP_SECONDS
from routing.breaker import Outcome
from routing.journal import Journal
from workers.clinical import ClinicalRejected, ClinicalSystem, ClinicalUnavailable
from workers.clinical_jobs import case_of
from workers.runtime import Runtime, runtime

log = logging.getLogger(__name__)

# A batch sends no more once it has taken this long (each request takes at most the send timeout,
# 5 s): the replay worker is never held for long, whatever the rate and the clinical system do.
BATCH_SECONDS = 5.0


def batch_size(per_second: float) -> int:
    """What one batch sends: the agenda is read once a second, so a second's worth (at least
    one entry: a slower rate spaces single entries further apart)."""
    return max(1, math.floor(per_second * SWEEP_SECONDS))


async def reconcile() -> dict[str, int]:
    async with runtime() as rt:
        return await reconcile_in(rt)


async def replay_batch() -> dict[str, int]:
    async with runtime() as rt:
        return await replay_batch_in(rt)


async def reconcile_in(rt: Runtime) -> dict[str, int]:
    """Start a replay, unless one is under way, and send its first batch at once."""
    if not await rt.journal.replay_started(rt.clock.now()):
        return {"skipped": 1}
    log.info("journal replay started")
    return await replay_batch_in(rt)


async def replay_batch_in(rt: Runtime) -> dict[str, int]:
    """One batch of the replay under way; then the next is due `sent / rate` after this one was
    due (so a batch the sweep started late does not slow the replay), or the replay is over."""
    journal = rt.journal
    due = await journal.replay_batch()
    if due is None:
        return {"skipped": 1}
    started = rt.clock.now()
    try:
        delivered, failed, stopped = await send_batch(rt, journal)
        sent = delivered + failed
        if not stopped and sent and await journal.next_pending():
            await journal.replay_next(next_due(due, started, sent / rt.settings.replay_per_second))
        else:
            await journal.replay_finished(rt.clock.now())
            progress = await journal.progress()
            log.info(
                "journal replay finished: %d delivered, %d failed in all; %d pending",
                progress.delivered + progress.duplicate,
                progress.failed,
                progress.pending,
            )
    except BaseException:
        await journal.replay_released()  # the agenda hands the batch out again
        raise
    return {"delivered": delivered, "failed": failed}


def next_due(due: float, started: float, spacing: float) -> float:
    """`spacing` after this batch was due, so that one the sweep started a little late does not
    slow the replay, nor one that took longer than its spacing to send (its successor is then
    due at once); but after a long hold-up (started more than a batch late), `spacing` after
    it started: the replay goes on at its rate, never catching up in a burst."""
    return due + spacing if started <= due + spacing else started + spacing


async def send_batch(rt: Runtime, journal: Journal) -> tuple[int, int, bool]:
    """Send the next entries, open cases first; returns (delivered, failed, stopped), stopped
    when the mode is degraded or the system failed again."""
    if (await rt.modes.read()).degraded:
        return 0, 0, True
    delivered = failed = 0
    give_up = time.monotonic() + BATCH_SECONDS
    async with httpx.AsyncClient(trust_env=False) as client:
        system = ClinicalSystem(rt.settings.fhir_base_url, client)
        for case_id in await journal.next_pending(batch_size(rt.settings.replay_per_second)):
            entry = await journal.get(case_id)
            if entry is None:
                return delivered, failed, True
            try:
                case = case_of(entry.bundle, entry.facts, entry.case_id, entry.kind, entry.notes)
            except ValidationError as error:  # kept by an older version in a form now refused
                why = f"cannot be read again: {error.error_count()} problems"
                await journal.outcome(entry.case_id, "failed", rt.clock.now(), why, entry.version)
                failed += 1
                continue
            try:
                delivery = await system.send(case)
            except ClinicalUnavailable as error:
                await journal.outcome(
                    entry.case_id, "unavailable", rt.clock.now(), str(error), entry.version
                )
                await rt.breaker.record(Outcome.FAILED, "replay", rt.clock.now(), str(error))
                return delivered, failed, True
            except ClinicalRejected as error:
                await journal.outcome(
                    entry.case_id, "failed", rt.clock.now(), str(error), entry.version
                )
                failed += 1
            else:
                settled = "duplicate" if delivery.outcome.value == "duplicate" else "delivered"
                await journal.outcome(entry.case_id, settled, rt.clock.now(), version=entry.version)
                delivered += 1
            if time.monotonic() > give_up:
                break
    return delivered, failed, False
