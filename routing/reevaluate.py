"""Calls already waiting, placed again under a newly activated rule set (keeping their place)."""

from __future__ import annotations

from redis.asyncio import Redis

from routing import keys
from routing.calls import Calls
from routing.models import CallFacts, CallStatus, Priority
from routing.overflow import ToNumber
from routing.queues import Queues
from routing.rules import RuleSet


async def reevaluate(redis: Redis, calls: Calls, rules: RuleSet, now: float) -> int:
    """Re-place every queued call as the IVR would place it now: its route, then the queue's
    hours and overflow (numbers are offered only on arrival: a caller the new rules would send
    to one stays in the route's queue). Returns how many moved queue or priority."""
    prefix = keys.queue_prefix()
    conditions = await Queues(redis).conditions(rules)
    moved = 0
    async for key in redis.scan_iter(match=prefix + "*"):
        for member in [str(m) for m in await redis.zrange(key, 0, -1)]:
            if member.startswith("cb:"):
                continue  # a callback keeps the class it was booked with (supervisors change it)
            record = await calls.get(member)
            if record is None or record.status is not CallStatus.QUEUED:
                continue
            placement = rules.place(CallFacts.of(record.answers, record.line, now))
            if placement.priority is not Priority.EMERGENCY:
                resolved = rules.resolve(placement, now, conditions)
                if not isinstance(resolved, ToNumber):
                    placement = resolved
            if placement != record.placement:
                await calls.enqueue(
                    record.sid, record.caller, record.line, record.answers, placement, now
                )
                moved += 1
    return moved
