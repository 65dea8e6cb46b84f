"""Statistics per queue and priority: live, and over exact windows (15m, 1h, today in London).

The transitions (Lua, `routing.lua.STATS`) write one sample per counted event, scored by its time
on Lifeline's clock; this reads the samples of a window, and `routing.figures` computes every
figure and percentile from them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.figures import (
    CallbackFigures,
    Report,
    Sample,
    Window,
    callback_figures,
    local_midnight,
    parse,
    report,
    window_start,
)
from routing.lua import STATS, script
from routing.models import Priority

# One event counted from Python (a caller offered a callback in the hold loop): `queue`,
# `priority`, `kind`, `subject`.
COUNT = script(
    STATS,
    """
count(a.queue, a.priority, a.kind, 1, a.subject)
return 1
""",
)


@dataclass
class Today:
    """Every sample from local midnight on, as of a version of the samples; and the last report
    made from them, with how many samples (the first n: those up to its `until`) it covered."""

    version: str | None
    since: float
    samples: list[Sample]
    times: list[float]
    made: tuple[int, Report] | None = None


class Stats:
    """Reads the samples. "Today" (up to some 10,000 samples at a busy contract area's volume)
    is kept per process and read again only when a write has changed the samples, which costs one
    GET to find out; the other windows are small and read whole."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._today: Today | None = None

    async def samples(self, since: float, until: float) -> list[Sample]:
        """Every sample from `since` to `until`, both included, oldest first."""
        members = await self.redis.zrangebyscore(keys.STATS_SAMPLES, since, until)
        return parse(cast(list[str], members))

    async def today(self, now: float) -> Today:
        since = local_midnight(now)
        kept = self._today
        if (
            kept is not None
            and kept.since == since
            and kept.version == await self.redis.get(keys.STATS_VERSION)
        ):
            return kept
        async with self.redis.pipeline(transaction=True) as pipe:  # the version of these samples
            pipe.get(keys.STATS_VERSION)
            pipe.zrangebyscore(keys.STATS_SAMPLES, since, "+inf")
            version, members = await pipe.execute()
        samples = parse(members)
        self._today = Today(version, since, samples, [sample.at for sample in samples])
        return self._today

    async def report(self, window: Window, now: float) -> Report:
        if window is not Window.TODAY:
            return report(window, now, await self.samples(window_start(window, now), now))
        today = await self.today(now)
        end = bisect_right(today.times, now)
        if today.made is None or today.made[0] != end:
            today.made = (end, report(window, now, today.samples[:end]))
        return today.made[1].model_copy(update={"until": now})

    async def reports(self, now: float) -> dict[Window, Report]:
        return {window: await self.report(window, now) for window in Window}

    async def callbacks(self, window: Window, now: float) -> list[CallbackFigures]:
        if window is Window.TODAY:
            samples = (await self.today(now)).samples
        else:
            samples = await self.samples(window_start(window, now), now)
        return callback_figures(window, now, samples)


class Waiting(BaseModel):
    """Live: callers waiting now in a queue at a priority, and how long the first has waited."""

    queue: str
    priority: int
    waiting: int
    longest_wait: float


async def waiting_now(redis: Redis, queues: list[str], now: float) -> list[Waiting]:
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            for priority in Priority:
                low = int(priority) * keys.SCORE_STEP
                pipe.zcount(keys.queue(queue), low, f"({low + keys.SCORE_STEP}")
                pipe.zrangebyscore(
                    keys.queue(queue),
                    low,
                    f"({low + keys.SCORE_STEP}",
                    start=0,
                    num=1,
                    withscores=True,
                )
        rows = await pipe.execute()
    live = []
    for index, (queue, priority) in enumerate((q, p) for q in queues for p in Priority):
        count, head = int(rows[2 * index]), rows[2 * index + 1]
        if count:
            arrival = (float(head[0][1]) - int(priority) * keys.SCORE_STEP) / 1000
            live.append(
                Waiting(
                    queue=queue,
                    priority=int(priority),
                    waiting=count,
                    longest_wait=max(0.0, now - arrival),
                )
            )
    return live


class WaitingEmergency(BaseModel):
    """Live: a priority-1 caller not yet with a handler or the dispatch line."""

    case_id: str
    queue: str
    waited: float  # seconds since they entered the queue
    handler: str  # offered to, and being rung; "" while waiting for one


async def emergencies_waiting(
    redis: Redis, queues: list[str], now: float
) -> list[WaitingEmergency]:
    """Every priority-1 caller waiting in a queue or on offer to a handler, longest first."""
    low, high = (
        int(Priority.EMERGENCY) * keys.SCORE_STEP,
        f"({(int(Priority.EMERGENCY) + 1) * keys.SCORE_STEP}",
    )
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrangebyscore(keys.queue(queue), low, high)
        pipe.zrange(keys.RESERVED, 0, -1)
        rows = cast(list[list[str]], await pipe.execute())
    members = {str(member) for row in rows[:-1] for member in row}
    members |= {str(member) for member in rows[-1] if not keys.is_callback(str(member))}
    ordered = sorted(members)
    async with redis.pipeline(transaction=False) as pipe:
        for sid in ordered:
            pipe.hmget(
                keys.call(sid), ["status", "priority", "case_id", "queue", "arrival", "handler"]
            )
        records = cast(list[list[str | None]], await pipe.execute())
    found = []
    for status, priority, case_id, where, arrival, handler in records:
        if priority != "1" or status not in ("queued", "reserved") or not arrival:
            continue
        found.append(
            WaitingEmergency(
                case_id=case_id or "",
                queue=where or "",
                waited=max(0.0, now - float(arrival)),
                handler=(handler or "") if status == "reserved" else "",
            )
        )
    return sorted(found, key=lambda row: -row.waited)
