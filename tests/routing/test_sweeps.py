"""Queue housekeeping."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from routing import keys
from routing.sweeps import sweep_orphans


def test_entries_whose_records_expired_are_swept(redis_url: str, sync_redis: redis.Redis) -> None:
    sync_redis.hset(keys.call("CAlive"), "status", "queued")
    sync_redis.hset(keys.callback("K1"), "status", "pending")
    sync_redis.zadd(keys.queue("general"), {"CAlive": 1, "CAgone": 2, "cb:K1": 3, "cb:K2": 4})

    async def sweep() -> int:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await sweep_orphans(client)
        finally:
            await client.aclose()

    assert asyncio.run(sweep()) == 2
    assert sync_redis.zrange(keys.queue("general"), 0, -1) == ["CAlive", "cb:K1"]
