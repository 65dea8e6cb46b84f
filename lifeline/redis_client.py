"""Redis clients as Lifeline uses them: short timeouts, so a dead Redis fails fast, not late, and
one retry, so a connection left stale by a Redis restart is replaced without an error."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

TIMEOUT_SECONDS = 1.0


def async_client(url: str, name: str = "lifeline", connections: int = 100) -> redis.asyncio.Redis:
    """At most `connections` at once; a command that finds them all busy waits for one (up to
    the timeout) rather than failing at once. `name` is each connection's CLIENT SETNAME."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=connections,
        timeout=TIMEOUT_SECONDS,
        client_name=name,
        decode_responses=True,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=AsyncRetry(NoBackoff(), 1),
        health_check_interval=30,
    )
    return redis.asyncio.Redis.from_pool(pool)


def sync_client(url: str) -> redis.Redis:
    """For RQ, which wants bytes back and blocks on reads (so no read timeout)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
