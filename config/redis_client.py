"""Redis clients as Lifeline uses them: short timeouts, so a dead Redis fails fast, not late, and
one retry, so a connection left stale by a Redis restart is replaced without an error.

Behind Sentinel (REDIS_SENTINELS), each client asks the sentinels where the primary is, and
redis-py's Sentinel support follows a failover: a connection to a primary that has been demoted
(READONLY) or has gone is dropped, and the command is retried on the new primary with a short,
growing pause. The asynchronous clients (the web processes', and the jobs') retry twice (0.1 s,
0.2 s), so that even a primary that hangs (each try then waits out the 1 s timeout) costs a
webhook about 3.3 s before its fail-safe answer, inside its 5 s budget; RQ's connections (the
workers' and cron's) four times (0.1 s to 0.8 s).
Meanwhile the webhooks' fail-safe routing covers callers, as it does when Redis is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

TIMEOUT_SECONDS = 1.0
# Behind Sentinel: retries of a command that met a failover, pausing 0.1 s, 0.2 s, 0.4 s, 0.8 s:
# a promotion takes the sentinels' down-after time and a few seconds more, and a request should
# not wait that long, so the retries only bridge a primary already promoted (or demoted).
FAILOVER_RETRIES = 4
WEB_FAILOVER_RETRIES = 2  # a webhook's budget is 5 s (ivr/webhooks.py)


@dataclass(frozen=True)
class RedisTarget:
    """Where to connect: a server's URL; or, with `sentinels`, the primary of `service` as they
    know it (the URL then gives the database, password and TLS only)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = "lifeline"
    # Durable writes (routing/replicated.py) wait for this many replicas, this long at most.
    wait_replicas: int = 0
    wait_milliseconds: int = 100
    sentinel_password: str = ""  # the sentinels' own (`requirepass` in their configuration)


def address_of(host_port: str) -> tuple[str, int]:
    host, _, port = host_port.rpartition(":")
    return host.strip("[]"), int(port)


def _target(where: str | RedisTarget) -> RedisTarget:
    return where if isinstance(where, RedisTarget) else RedisTarget(where)


def _server_options(url: str) -> dict[str, Any]:
    """The URL's database, credentials and TLS, for connections whose address Sentinel gives."""
    parts = urlsplit(url)
    options: dict[str, Any] = {"db": int(parts.path.strip("/") or 0)}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def _sentinel_options(target: RedisTarget) -> dict[str, Any]:
    """The sentinels' own connections: the same short timeouts, their own password (if any)."""
    auth = {"password": target.sentinel_password} if target.sentinel_password else {}
    return {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS} | auth


def _failover_backoff() -> ExponentialBackoff:  # 0.1 s, 0.2 s, 0.4 s, 0.8 s
    return ExponentialBackoff(cap=1.0, base=0.05)


class _BlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The primary's connections, found through Sentinel, at most `max_connections` at once: a
    command finding them all busy waits for one (as the plain client's pool does). Closed (the
    client's `aclose`, not a failover's reset of idle connections), it closes its connections
    to the sentinels too: a job's client leaves nothing open."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()


class _SentinelPool(redis.sentinel.SentinelConnectionPool):
    """As `_BlockingSentinelPool`, for the synchronous clients (RQ's)."""

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:
            for sentinel in self.sentinel_manager.sentinels:
                sentinel.close()


def async_client(
    where: str | RedisTarget, name: str = "lifeline", connections: int = 100
) -> redis.asyncio.Redis:
    """At most `connections` at once; a command that finds them all busy waits for one (up to
    the timeout) rather than failing at once. `name` is each connection's CLIENT SETNAME."""
    target = _target(where)
    options: dict[str, Any] = {
        "max_connections": connections,
        "timeout": TIMEOUT_SECONDS,
        "client_name": name,
        "decode_responses": True,
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "health_check_interval": 30,
    }
    client: redis.asyncio.Redis
    if not target.sentinels:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            target.url, retry=AsyncRetry(NoBackoff(), 1), **options
        )
        client = redis.asyncio.Redis.from_pool(pool)
    else:
        sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels), sentinel_kwargs=_sentinel_options(target)
        )
        client = sentinel.master_for(
            target.service,
            connection_pool_class=_BlockingSentinelPool,
            retry=AsyncRetry(_failover_backoff(), WEB_FAILOVER_RETRIES),
            **options,
            **_server_options(target.url),
        )
    # What routing/replicated.py reads: the durable writes made through this client wait so.
    client.replicas_to_wait = target.wait_replicas  # type: ignore[attr-defined]
    client.wait_milliseconds = target.wait_milliseconds  # type: ignore[attr-defined]
    return client


def _sync_client(target: RedisTarget, **options: Any) -> redis.Redis:
    if not target.sentinels:
        return redis.Redis.from_url(target.url, retry=Retry(NoBackoff(), 1), **options)
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=_sentinel_options(target)
    )
    return sentinel.master_for(  # type: ignore[no-any-return,no-untyped-call]
        target.service,
        connection_pool_class=_SentinelPool,
        retry=Retry(_failover_backoff(), FAILOVER_RETRIES),
        **options,
        **_server_options(target.url),
    )


def enqueue_client(where: str | RedisTarget) -> redis.Redis:
    """For RQ's enqueues from a web process: bytes back, as RQ wants, and a read timeout, since
    nothing an enqueue sends blocks in Redis: no answer by then means Redis is gone, or a
    failover left the connection open to nobody, and the enqueue fails rather than holding its
    thread (and every enqueue queued behind it) for ever."""
    return _sync_client(
        _target(where),
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        health_check_interval=30,
    )


def sync_client(where: str | RedisTarget) -> redis.Redis:
    """For RQ's workers and scheduler, which block on reads (so no read timeout)."""
    return _sync_client(
        _target(where), socket_connect_timeout=TIMEOUT_SECONDS, health_check_interval=30
    )
