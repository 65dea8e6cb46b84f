"""Statistics per queue and priority: live, and for the last 15 minutes, the last hour and today.

The transitions themselves (Lua, see `routing.lua.STATS`) add to per-minute and per-hour
buckets, so the figures are exact whichever process handled the call. "Today" starts at local
midnight in Europe/London.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import cast
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.models import Priority
from routing.queues import SCORE_STEP

LONDON = ZoneInfo("Europe/London")
SERVICE_LEVEL_SECONDS = 60  # REFERENCE: 95% of calls answered within 60 s


class Window(StrEnum):
    LAST_15_MINUTES = "15m"
    LAST_HOUR = "1h"
    TODAY = "today"


class Figures(BaseModel):
    """One queue and priority class over a window. Rates are None when nothing happened."""

    queue: str
    priority: int
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_after_30s: int = 0
    dispatched: int = 0
    service_level: float | None = None
    average_speed_of_answer: float | None = None
    abandoned_rate: float | None = None
    longest_wait: float | None = None
    p1_reached: int = 0
    p1_average_time_to_reach: float | None = None
    p1_longest_time_to_reach: float | None = None


def minute_keys(start: float, end: float) -> list[str]:
    first = int(start // 60) * 60
    return [f"{keys.PREFIX}:stats:m:{t}" for t in range(first, int(end) + 1, 60)]


def hour_keys(start: float, end: float) -> list[str]:
    first = int(start // 3600) * 3600
    return [f"{keys.PREFIX}:stats:h:{t}" for t in range(first, int(end) + 1, 3600)]


def local_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, LONDON)
    midnight = datetime(local.year, local.month, local.day, tzinfo=LONDON)
    return midnight.timestamp()


def window_start(window: Window, now: float) -> float:
    match window:
        case Window.LAST_15_MINUTES:
            return now - 15 * 60
        case Window.LAST_HOUR:
            return now - 3600
        case Window.TODAY:
            return local_midnight(now)


def window_keys(window: Window, now: float) -> list[str]:
    match window:
        case Window.LAST_15_MINUTES:
            return minute_keys(now - 15 * 60 + 60, now)
        case Window.LAST_HOUR:
            return minute_keys(now - 3600 + 60, now)
        case Window.TODAY:
            return hour_keys(local_midnight(now), now)


def figures(queue: str, priority: int, raw: dict[str, float]) -> Figures:
    answered = int(raw.get("answered", 0))
    abandoned = int(raw.get("abandoned", 0))
    reached = int(raw.get("reached", 0))
    ended = answered + abandoned
    return Figures(
        queue=queue,
        priority=priority,
        offered=int(raw.get("offered", 0)),
        answered=answered,
        abandoned=abandoned,
        abandoned_after_30s=int(raw.get("abandoned_30", 0)),
        dispatched=int(raw.get("dispatched", 0)),
        service_level=raw.get("answered_60", 0) / ended if ended else None,
        average_speed_of_answer=raw.get("answered_wait", 0) / answered if answered else None,
        abandoned_rate=abandoned / ended if ended else None,
        longest_wait=raw.get("max_wait"),
        p1_reached=reached,
        p1_average_time_to_reach=raw.get("reached_wait", 0) / reached if reached else None,
        p1_longest_time_to_reach=raw.get("reached_max") if reached else None,
    )


PEAKS = frozenset({"max_wait", "reached_max"})


CALLBACKS = "callbacks"  # the pseudo-queue callback figures are kept under


class CallbackFigures(BaseModel):
    """Callbacks of one priority class over a window."""

    priority: int
    offered: int = 0  # callers offered one in the hold loop
    accepted: int = 0  # callbacks booked
    made: int = 0
    made_on_time: int = 0  # within the class's target
    unreachable: int = 0  # every attempt failed: left for a clinician
    cancelled: int = 0
    on_time_rate: float | None = None


class Stats:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def window(self, window: Window, now: float) -> list[Figures]:
        totals = await self.totals(window, now)
        return [
            figures(queue, priority, raw)
            for (queue, priority), raw in sorted(totals.items())
            if queue != CALLBACKS
        ]

    async def callbacks(self, window: Window, now: float) -> list[CallbackFigures]:
        totals = await self.totals(window, now)
        rows = []
        for (queue, priority), raw in sorted(totals.items()):
            if queue != CALLBACKS:
                continue
            made = int(raw.get("made", 0))
            rows.append(
                CallbackFigures(
                    priority=priority,
                    offered=int(raw.get("offered", 0)),
                    accepted=int(raw.get("accepted", 0)),
                    made=made,
                    made_on_time=int(raw.get("made_on_time", 0)),
                    unreachable=int(raw.get("unreachable", 0)),
                    cancelled=int(raw.get("cancelled", 0)),
                    on_time_rate=raw.get("made_on_time", 0) / made if made else None,
                )
            )
        return rows

    async def totals(self, window: Window, now: float) -> dict[tuple[str, int], dict[str, float]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in window_keys(window, now):
                pipe.hgetall(key)
            buckets = cast(list[dict[str, str]], await pipe.execute())
        totals: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        for bucket in buckets:
            for name, value in bucket.items():
                queue, priority, field = name.split("|")
                into = totals[(queue, int(priority))]
                number = float(value)
                if field in PEAKS:
                    into[field] = max(into.get(field, -math.inf), number)
                else:
                    into[field] = into.get(field, 0.0) + number
        return dict(totals)


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
                low = int(priority) * SCORE_STEP
                pipe.zcount(keys.queue(queue), low, f"({low + SCORE_STEP}")
                pipe.zrangebyscore(
                    keys.queue(queue), low, f"({low + SCORE_STEP}", start=0, num=1, withscores=True
                )
        rows = await pipe.execute()
    live = []
    for index, (queue, priority) in enumerate((q, p) for q in queues for p in Priority):
        count, head = int(rows[2 * index]), rows[2 * index + 1]
        if count:
            arrival = (float(head[0][1]) - int(priority) * SCORE_STEP) / 1000
            live.append(
                Waiting(
                    queue=queue,
                    priority=int(priority),
                    waiting=count,
                    longest_wait=max(0.0, now - arrival),
                )
            )
    return live
