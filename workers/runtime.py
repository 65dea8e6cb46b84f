"""The composition root of a worker process: what a job runs with (settings, its Redis client, a
clock) and each store it uses, built from that one client once per job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, cached_property

import redis.asyncio

from config.redis_client import async_client, sync_client
from config.settings import Settings, load_settings
from routing.agenda import Agenda
from routing.audit import Audit
from routing.bookings import Bookings
from routing.breaker import Breaker, BreakerSettings
from routing.callback_retention import CallbackRetention
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.clock import Clock, SystemClock
from routing.handlers import Handlers
from routing.journal import Journal
from routing.mode import ModeStore
from routing.number_hash import NumberHash
from routing.offers import Offers
from routing.rulebook import RuleBook
from routing.transfers import Transfers
from workers.enqueue import Jobs
from workers.ratelimit import CallsPerSecond
from workers.telephony import Telephony


@dataclass(frozen=True)
class Runtime:
    """Each store is built the first time the job asks for it, then shared by the whole job."""

    settings: Settings
    redis: redis.asyncio.Redis
    clock: Clock

    @cached_property
    def audit(self) -> Audit:
        return Audit(self.redis)

    @cached_property
    def modes(self) -> ModeStore:
        return ModeStore(self.redis, self.audit)

    @cached_property
    def breaker(self) -> Breaker:
        return Breaker(self.redis, self.modes, BreakerSettings.of(self.settings))

    @cached_property
    def rulebook(self) -> RuleBook:
        return RuleBook(self.redis, self.audit)

    @cached_property
    def agenda(self) -> Agenda:
        return Agenda(self.redis)

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.redis)

    @cached_property
    def bookings(self) -> Bookings:
        return Bookings(self.redis)

    # Built without the number hash: a job only moves calls and callbacks along, and never
    # finds a caller by number (routing/number_hash.py).
    @cached_property
    def calls(self) -> Calls:
        return Calls(self.redis)

    @cached_property
    def callbacks(self) -> Callbacks:
        return Callbacks(self.redis)

    @cached_property
    def callback_retention(self) -> CallbackRetention:
        return CallbackRetention(self.redis)

    @cached_property
    def handlers(self) -> Handlers:
        return Handlers(self.redis)

    @cached_property
    def transfers(self) -> Transfers:
        return Transfers(self.redis)

    @cached_property
    def offers(self) -> Offers:
        return Offers(self.redis)

    @cached_property
    def numbers(self) -> NumberHash:
        return NumberHash(self.settings.number_hash_secret)

    @cached_property
    def calls_per_second(self) -> CallsPerSecond:
        """Twilio's limit on calls placed, shared by every worker."""
        return CallsPerSecond(self.redis, self.clock)

    @cached_property
    def telephony(self) -> Telephony:
        return Telephony(self.settings)


@cache
def job_settings() -> Settings:
    """Read once per worker process (settings never change while it runs)."""
    return load_settings()


# A runtime that jobs run in instead of their own: the simulator's (its Redis, its virtual clock,
# its phone network), for the jobs it runs itself.
_given: ContextVar[Runtime | None] = ContextVar("runtime", default=None)


@contextmanager
def jobs_run_in(rt: Runtime) -> Iterator[None]:
    """Jobs called within run with `rt`, not a runtime of their own."""
    token = _given.set(rt)
    try:
        yield
    finally:
        _given.reset(token)


@asynccontextmanager
async def runtime(settings: Settings | None = None) -> AsyncIterator[Runtime]:
    """A job's dependencies. RQ runs each async job in a fresh event loop, so the async Redis
    client (bound to a loop) is made per job and closed after it."""
    given = _given.get()
    if given is not None:
        yield given
        return
    settings = settings or job_settings()
    client = async_client(settings.redis)
    try:
        yield Runtime(settings=settings, redis=client, clock=SystemClock())
    finally:
        await client.aclose()


@asynccontextmanager
async def enqueuing(rt: Runtime) -> AsyncIterator[Jobs]:
    """For a job that enqueues others: RQ's synchronous client, for this job alone."""
    connection = sync_client(rt.settings.redis)
    jobs = Jobs(connection, threads=1, retention_days=rt.settings.retention_days)
    try:
        yield jobs
    finally:
        jobs.close()
        connection.close()
