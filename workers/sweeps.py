"""Periodic housekeeping jobs, run by `rq cron` (see workers/cron.py)."""

from __future__ import annotations

import logging

import redis

from routing.rulebook import RuleBook
from routing.sweeps import sweep_floor, sweep_orphans
from workers.enqueue import Jobs
from workers.runtime import runtime

log = logging.getLogger(__name__)


async def sweep_queues() -> int:
    async with runtime() as rt:
        removed = await sweep_orphans(rt.redis)
    if removed:
        log.warning("removed %d queue entries whose records had expired", removed)
    return removed


async def tick() -> dict[str, int]:
    """Every few seconds: lost handlers and offers, then assignment of whatever is waiting."""
    async with runtime() as rt:
        rules = await RuleBook(rt.redis).active()
        report = await sweep_floor(rt.redis, rules, rt.clock.now())
        if report.offers:
            connection = redis.Redis.from_url(str(rt.settings.redis_url))
            try:
                await Jobs(connection).connect_all(report.offers)
            finally:
                connection.close()
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
