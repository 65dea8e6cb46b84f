"""What a job runs with: settings and clients built from the environment, once per job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache

import redis.asyncio

from config.redis_client import async_client, sync_client
from config.settings import Settings, load_settings
from routing.clock import Clock, SystemClock
from workers.enqueue import Jobs


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    redis: redis.asyncio.Redis
    clock: Clock


@cache
def job_settings() -> Settings:
    """Read once per worker process (settings never change while it runs)."""
    return load_settings()


@asynccontextmanager
async def runtime(settings: Settings | None = None) -> AsyncIterator[Runtime]:
    """A job's dependencies. RQ runs each async job in a fresh event loop, so the async Redis
    client (bound to a loop) is made per job and closed after it."""
    settings = settings or job_settings()
    client = async_client(str(settings.redis_url))
    try:
        yield Runtime(settings=settings, redis=client, clock=SystemClock())
    finally:
        await client.aclose()


@asynccontextmanager
async def enqueuing(rt: Runtime) -> AsyncIterator[Jobs]:
    """For a job that enqueues others: RQ's synchronous client, for this job alone."""
    connection = sync_client(str(rt.settings.redis_url))
    jobs = Jobs(connection, threads=1, retention_days=rt.settings.retention_days)
    try:
        yield jobs
    finally:
        jobs.close()
        connection.close()
