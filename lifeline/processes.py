"""The long-running worker and cron processes, kept alive through Redis restarts.

RQ's worker and cron scheduler stop on some connection errors; a Redis restart (or failover)
must not take the floor's workers with it, so each is restarted after a short, growing pause.
"""

from __future__ import annotations

import gc
import logging
import time
from types import FrameType

import redis
import twilio.rest.api.v2010.account.call  # noqa: F401  # see below
from rq import Worker
from rq.cron import CronScheduler

# Every job's module is imported here, so that RQ's work horses (forked per job) start with them
# loaded: imported afresh in each horse they would cost half a second a job.
import workers.callback_calls
import workers.clinical_jobs
import workers.connect
import workers.sweeps  # noqa: F401
from lifeline.redis_client import sync_client
from lifeline.settings import Settings
from workers.cron import schedule
from workers.queues import ALL

log = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 10.0


class QuitOnError(redis.ConnectionError):
    """The RQ worker left its loop without being asked to stop: it quits so on a Redis timeout or
    on any error it did not expect (a Redis restart in the middle of a job among them)."""


class FloorWorker(Worker):
    """RQ's worker, knowing whether it was asked to stop (a signal or an `rq shutdown`) or quit on
    an error, which `work()` does not say."""

    stop_requested_by_signal = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested_by_signal = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def keep_running(run: object, what: str) -> None:
    """Call `run()` until it returns normally (a requested stop); restart it after a Redis
    connection error, pausing 0.5 s, then 1 s, 2 s... up to `MAX_PAUSE_SECONDS`."""
    pause = 0.5
    while True:
        started = time.monotonic()
        try:
            run()  # type: ignore[operator]
            return
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if time.monotonic() - started > 60:
                pause = 0.5  # it had been running well: start again promptly
            log.warning("%s lost Redis (%s); starting again in %.1f s", what, error, pause)
            time.sleep(pause)
            pause = min(MAX_PAUSE_SECONDS, pause * 2)


def run_worker(settings: Settings, burst: bool = False) -> None:
    # What is loaded now is shared with every forked work horse: kept out of the collector's
    # sight, it is neither walked by it nor copied page by page into each horse.
    gc.collect()
    gc.freeze()

    def work() -> None:
        worker = FloorWorker(list(ALL), connection=sync_client(str(settings.redis_url)))
        worker.work(burst=burst)
        if not burst and not worker.stop_requested_by_signal:
            raise QuitOnError("the worker quit without being asked to")

    keep_running(work, "worker")


def run_cron(settings: Settings) -> None:
    def cron() -> None:
        scheduler = CronScheduler(connection=sync_client(str(settings.redis_url)))
        for job in schedule(settings.clinical_probe_interval_seconds):
            scheduler.register(
                job.func,
                queue_name=job.queue.value,
                interval=job.interval_seconds,
                job_timeout=job.timeout_seconds,
            )
        scheduler.start()  # type: ignore[no-untyped-call]

    keep_running(cron, "cron")
