"""Periodic jobs on the floor, enqueued by `lifeline cron` (RQ's cron scheduler, on the schedule
of workers/cron.py): the agenda every second, the floor sweep every few seconds, housekeeping
(queue entries whose records expired, retention) every few minutes."""

from __future__ import annotations

import logging

from routing.agenda import CallbackCall, ReplayBatch
from routing.floor import Floor
from routing.onward import sweep_room
from routing.rules import default_rules
from routing.sweeps import sweep_floor, sweep_orphans
from workers.runtime import Runtime, enqueuing, runtime

log = logging.getLogger(__name__)


async def sweep_queues() -> int:
    async with runtime() as rt:
        removed = await sweep_orphans(rt.redis)
        await keep_only_what_is_needed(rt)
    if removed:
        log.warning("removed %d queue entries whose records had expired", removed)
    return removed


async def keep_only_what_is_needed(rt: Runtime) -> None:
    """Past RETENTION_DAYS, delivered journal entries and closed callbacks lose the patient's
    details, and the journal's stream its events; nothing still waiting is touched."""
    before = rt.clock.now() - rt.settings.retention_days * 86_400
    forgotten = await rt.journal.forget_settled(before)
    trimmed = await rt.journal.trim_stream(int(before * 1000))
    if forgotten or trimmed:
        log.info("retention: %d journal entries forgotten, %d events trimmed", forgotten, trimmed)
    callbacks = await rt.callback_retention.forget_closed(before)
    if callbacks:
        log.info("retention: %d closed callbacks forgotten", callbacks)


async def due() -> dict[str, int]:
    """Every second: what the agenda says is due now (on Lifeline's clock) goes to the workers:
    the journal's next replay batch, callbacks whose calling slot has come."""
    async with runtime() as rt:
        items = await rt.agenda.take_due(rt.clock.now())
        if items:
            async with enqueuing(rt) as jobs:
                for item in items:
                    match item:
                        case ReplayBatch():
                            await jobs.off_loop(jobs.replay_batch)
                        case CallbackCall(callback=callback, handler=handler, offer=offer):
                            await jobs.off_loop(jobs.place_callback, callback, handler, offer)
    replays = sum(isinstance(item, ReplayBatch) for item in items)
    return {"replay_batches": replays, "callbacks": len(items) - replays}


ROOM_GRACE_SECONDS = 20.0  # a handler introducing the case is left alone this long at least


async def rooms() -> dict[str, int]:
    """Every few seconds: warm transfers' rooms a handler has left with neither of its two
    signals recorded (Redis unreachable for both): asked of Twilio, and the caller moved on."""
    async with runtime() as rt:
        calls = await rt.transfers.rooms_since(rt.clock.now() - ROOM_GRACE_SECONDS)
        if not calls:
            return {"rooms": 0, "moved": 0}
        moved = 0
        async with enqueuing(rt) as jobs:
            floor = Floor.of(rt.redis, rt.clock, rt.settings, default_rules(), jobs)
            for sid in calls:
                room = await rt.transfers.in_room(sid)
                labels = await rt.telephony.room_labels(room) if room else None
                moved += await sweep_room(floor, sid, labels) == "moved"
    return {"rooms": len(calls), "moved": moved}


async def tick() -> dict[str, int]:
    """Every few seconds: lost handlers and offers, then assignment of whatever is waiting."""
    async with runtime() as rt:
        rules = await rt.rulebook.active()
        report = await sweep_floor(rt.redis, rules, rt.clock.now())
        if report.offers:
            async with enqueuing(rt) as jobs:
                await jobs.connect_all(report.offers)
    for handler_id in report.handlers_gone:
        log.warning(
            "heartbeat lost: offline (after the call, if on one)", extra={"handler": handler_id}
        )
    for callback_id in report.callbacks_raised:
        log.warning(
            "callback at risk of missing its target: raised", extra={"case_id": callback_id}
        )
    return {
        "handlers_gone": len(report.handlers_gone),
        "offers_released": len(report.offers_released),
        "assigned": len(report.offers),
        "callbacks_due": report.callbacks_due,
        "callbacks_raised": len(report.callbacks_raised),
    }
