"""The long-running worker and cron processes, kept alive through Redis restarts.

RQ's worker and cron scheduler stop on some connection errors; a Redis restart (or failover)
must not take the floor's workers with it, so each is restarted after a short, growing pause.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from types import FrameType

import redis
import twilio.rest.api.v2010.account.call  # noqa: F401  # see below
from rq import Worker
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

# Every job's module is imported here, so that RQ's work horses (forked per job) start with them
# loaded: imported afresh in each horse they would cost half a second a job.
import workers.callback_calls
import workers.clinical_jobs
import workers.connect
import workers.replay
import workers.sweeps  # noqa: F401
from lifeline.redis_client import sync_client
from lifeline.settings import Settings
from workers.cron import schedule
from workers.queues import ALL, JobQueue

log = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 10.0


class QuitOnError(redis.ConnectionError):
    """The RQ worker left its loop without being asked to stop: it quits so on a Redis timeout or
    on any error it did not expect (a Redis restart in the middle of a job among them)."""


class FloorWorker(Worker):
    """RQ's worker, telling `stop` when a signal asks it to stop, which `work()` does not say.

    The handlers RQ installs stay in place after `work()` ends, so while Redis is down a signal
    reaches the worker that lost it, not the next one (which installs its own only once Redis
    answers): `stop` is shared by every worker the process makes."""

    def __init__(self, queues: list[str], connection: redis.Redis, stop: threading.Event) -> None:
        super().__init__(queues, connection=connection)
        self.stop = stop

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class FloorCron(CronScheduler):
    """RQ's cron scheduler, telling `stop` when a signal asks it to stop (see `FloorWorker`)."""

    def __init__(self, connection: redis.Redis, stop: threading.Event) -> None:
        super().__init__(connection=connection)
        self.stop = stop

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        super()._request_stop(signum, frame)  # type: ignore[no-untyped-call]


def keep_running(run: Callable[[], None], what: str, stop: threading.Event) -> None:
    """Call `run()` until it returns normally or `stop` is set (a signal); restart it after a
    Redis connection error, pausing 0.5 s, then 1 s, 2 s... up to `MAX_PAUSE_SECONDS`."""
    pause = 0.5
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                run()
                break
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if stop.is_set():  # asked to stop, it could not say goodbye to Redis
                    break
                if time.monotonic() - started > 60:
                    pause = 0.5  # it had been running well: start again promptly
                log.warning("%s lost Redis (%s); starting again in %.1f s", what, error, pause)
                stop.wait(pause)
                pause = min(MAX_PAUSE_SECONDS, pause * 2)
    except (StopRequested, redis.ConnectionError, redis.TimeoutError):
        # The signal came between two runs, to the one that had ended: RQ's handler raises
        # StopRequested, or, when that one died in a job, fails to tell Redis it will stop.
        if not stop.is_set():
            raise
    log.info("%s stopped", what)


def leave_pubsub(worker: Worker) -> None:
    """RQ stops a worker's command channel thread only once Redis says goodbye; when it cannot,
    the thread would retry for ever beside every worker made after it."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None:
        thread.stop()


def run_worker(settings: Settings, burst: bool = False, queues: tuple[JobQueue, ...] = ALL) -> None:
    """A worker taking jobs from `queues`, the first with a job first (a pool's worker serves
    its pool's queues; a local run's one worker may serve them all)."""
    # What is loaded now is shared with every forked work horse: kept out of the collector's
    # sight, it is neither walked by it nor copied page by page into each horse.
    gc.collect()
    gc.freeze()
    stop = threading.Event()

    def work() -> None:
        names = [queue.value for queue in queues]
        worker = FloorWorker(names, sync_client(str(settings.redis_url)), stop)
        try:
            # With RQ's scheduler, which puts a failed job whose retry waits an interval back in
            # its queue then (one worker per queue holds its lock): without it, no such retry runs.
            worker.work(burst=burst, with_scheduler=True)
        finally:
            leave_pubsub(worker)
        if not burst and not stop.is_set():
            raise QuitOnError("the worker quit without being asked to")

    keep_running(work, "worker", stop)


def run_cron(settings: Settings) -> None:
    stop = threading.Event()

    def cron() -> None:
        scheduler = FloorCron(sync_client(str(settings.redis_url)), stop)
        for job in schedule(settings.clinical_probe_interval_seconds):
            scheduler.register(
                job.func,
                queue_name=job.queue.value,
                interval=job.interval_seconds,
                job_timeout=job.timeout_seconds,
            )
        scheduler.start()  # type: ignore[no-untyped-call]

    keep_running(cron, "cron", stop)
