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


def enqueue_client(url: str) -> redis.Redis:
    """For RQ's enqueues from a web process: bytes back, as RQ wants, and a read timeout, since
    nothing an enqueue sends blocks in Redis: no answer by then means Redis is gone, or a
    failover left the connection open to nobody, and the enqueue fails rather than holding its
    thread (and every enqueue queued behind it) for ever."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def sync_client(url: str) -> redis.Redis:
    """For RQ's workers and scheduler, which block on reads (so no read timeout)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
