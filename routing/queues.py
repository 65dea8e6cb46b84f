"""Reading the queues: a caller's position, and how many wait in each queue at each priority."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from routing import keys
from routing.models import Priority

SCORE_STEP = 1e13  # score = priority * SCORE_STEP + arrival in milliseconds


def score(priority: Priority, arrival: float) -> float:
    return int(priority) * SCORE_STEP + int(arrival * 1000)


class Queues:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def position(self, queue: str, member: str) -> int | None:
        """1 for the next caller to be answered; None if the member is not in the queue."""
        rank = await self.redis.zrank(keys.queue(queue), member)
        return None if rank is None else int(cast(int, rank)) + 1

    async def waiting(self, queues: list[str]) -> dict[tuple[str, Priority], int]:
        """How many wait in each queue at each priority class."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                for priority in Priority:
                    low = int(priority) * SCORE_STEP
                    pipe.zcount(keys.queue(queue), low, f"({low + SCORE_STEP}")
            counts = await pipe.execute()
        pairs = [(queue, priority) for queue in queues for priority in Priority]
        return {pair: int(count) for pair, count in zip(pairs, counts, strict=True)}
