"""Calls already waiting, placed again under a newly activated rule set (keeping their place)."""

from __future__ import annotations

from redis.asyncio import Redis

from routing import keys
from routing.calls import Calls
from routing.models import CallFacts, CallStatus
from routing.rules import RuleSet


async def reevaluate(redis: Redis, calls: Calls, rules: RuleSet, now: float) -> int:
    """Re-place every queued call; returns how many moved queue or priority."""
    prefix = keys.queue_prefix()
    moved = 0
    async for key in redis.scan_iter(match=prefix + "*"):
        for member in [str(m) for m in await redis.zrange(key, 0, -1)]:
            if member.startswith("cb:"):
                continue
            record = await calls.get(member)
            if record is None or record.status is not CallStatus.QUEUED:
                continue
            placement = rules.place(CallFacts.of(record.answers, record.line, now))
            if placement != record.placement:
                await calls.enqueue(
                    record.sid, record.caller, record.line, record.answers, placement, now
                )
                moved += 1
    return moved
