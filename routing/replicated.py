"""Acknowledged means replicated, for what must never be lost: an accepted callback, a journal
entry, an audit record, a wrap-up.

Redis replicates asynchronously: a write the primary acknowledged just before it died may not
have reached the replica the sentinels promote. Behind replicas (REDIS_WAIT_REPLICAS, with
Sentinel), these writes are followed, in the same pipeline and so on the same connection (WAIT
counts the writes of its own connection), by `WAIT n timeout`: the write is acknowledged once n
replicas have it. A wait that times out (a replica slow or gone) does not fail the write, which
the primary has: it is logged and counted (`lifeline_replication_wait_timeouts` in /metrics), so
that a loss in a failover soon after is known to be possible. Three of the four are idempotent
(the same callback booked twice is one, a journal entry is one per case, a wrap-up the same
twice is one), so one retried after a failover does not duplicate; a retried audit record may
appear twice, each with its time (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from routing import keys

log = logging.getLogger(__name__)

Write = Callable[[Any], Awaitable[Any]]  # given the client, or a pipeline to queue it on


def wanted(redis: Redis) -> tuple[int, int]:
    """How many replicas a durable write waits for on this client, and for how long (ms)."""
    return getattr(redis, "replicas_to_wait", 0), getattr(redis, "wait_milliseconds", 0)


async def replicated(redis: Redis, what: str, write: Write) -> Any:
    """`write(client)`'s result, once acknowledged by the replicas this client waits for."""
    replicas, milliseconds = wanted(redis)
    if not replicas:
        return await write(redis)
    try:
        result, acknowledged = await _with_wait(redis, write, replicas, milliseconds)
    except NoScriptError:
        # Retried after a failover onto a new primary, which has none of the old one's scripts
        # (Redis does not replicate its script cache): once more, loading them there first. The
        # write is idempotent, so whether the first try reached the old primary does not matter.
        result, acknowledged = await _with_wait(redis, write, replicas, milliseconds)
    if acknowledged < replicas:
        log.warning(
            "%s acknowledged by %d of %d replicas within %d ms",
            what,
            acknowledged,
            replicas,
            milliseconds,
        )
        await redis.hincrby(keys.REPLICATION_TIMEOUTS, what, 1)
    return result


async def _with_wait(
    redis: Redis, write: Write, replicas: int, milliseconds: int
) -> tuple[Any, int]:
    async with redis.pipeline(transaction=False) as pipe:
        await write(pipe)
        pipe.execute_command("WAIT", replicas, milliseconds)
        result, acknowledged = await pipe.execute()
    return result, int(acknowledged)


async def timeouts(redis: Redis) -> dict[str, int]:
    counted = await redis.hgetall(keys.REPLICATION_TIMEOUTS)
    return {str(what): int(count) for what, count in counted.items()}
