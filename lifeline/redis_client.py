"""Redis clients as Lifeline uses them: short timeouts, so a dead Redis fails fast, not late, and
one retry, so a connection left stale by a Redis restart is replaced without an error."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

TIMEOUT_SECONDS = 1.0


def async_client(url: str) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=AsyncRetry(NoBackoff(), 1),
        health_check_interval=30,
    )


def sync_client(url: str) -> redis.Redis:
    """For RQ, which wants bytes back and blocks on reads (so no read timeout)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
