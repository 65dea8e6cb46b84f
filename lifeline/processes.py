"""The long-running worker and cron processes, kept alive through Redis restarts.

RQ's worker and cron scheduler stop on some connection errors; a Redis restart (or failover)
must not take the floor's workers with it, so each is restarted after a short, growing pause.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

import redis
import twilio.rest.api.v2010.account.call  # noqa: F401  # see below
from rq import Queue, Worker, cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.exceptions import DeserializationError, StopRequested
from rq.job import Job

# Every job's module is imported here, so that RQ's work horses (forked per job) start with them
# loaded: imported afresh in each horse they would cost half a second a job.
import workers.callback_calls
import workers.clinical_jobs
import workers.connect
import workers.replay
import workers.sweeps  # noqa: F401
from config.redis_client import enqueue_client, sync_client
from config.settings import Settings
from routing import key_migration
from workers.cron import claim_period, schedule
from workers.job_queues import DEFAULT, JOBS, SERIALIZER, JobQueue, queue_of

log = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 10.0
# RQ waits for a job this long less 15 s, with a read timeout 10 s beyond: a primary that hangs
# (or a network that drops it) is given up on within half a minute, not RQ's seven (its 420 s
# default), and the worker starts again on the new primary.
WORKER_TTL_SECONDS = 35
CRON_ID = f"{socket.gethostname()}:{os.getpid()}"  # who claimed a period, for people looking


class QuitOnError(redis.ConnectionError):
    """The RQ worker left its loop without being asked to stop: it quits so on a Redis timeout or
    on any error it did not expect (a Redis restart in the middle of a job among them)."""


class FloorWorker(Worker):
    """RQ's worker, telling `stop` when a signal asks it to stop, which `work()` does not say.

    The handlers RQ installs stay in place after `work()` ends, so while Redis is down a signal
    reaches the worker that lost it, not the next one (which installs its own only once Redis
    answers): `stop` is shared by every worker the process makes."""

    def __init__(self, queues: list[str], connection: redis.Redis, stop: threading.Event) -> None:
        # A job's description is its arguments, a case's notes among them: never in the log.
        super().__init__(
            queues,
            connection=connection,
            serializer=SERIALIZER,
            log_job_description=False,
            worker_ttl=WORKER_TTL_SECONDS,
        )
        self.stop = stop

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Only Lifeline's own jobs run: one naming any other function (written to Redis by
        someone who should not have) is failed before anything of it is imported or called."""
        try:
            name = job.func_name or ""
        except DeserializationError:
            name = "<unreadable>"
        # Lifeline's jobs name no callbacks (RQ would import and call them) and no webhooks
        # (RQ would send them, with the job's error, wherever they point).
        callbacks = [
            job._success_callback_name,
            job._failure_callback_name,
            job._stopped_callback_name,
        ]
        if name not in JOBS or any(callbacks) or job.webhooks:
            job.webhooks = []  # refused, and not announced to anyone
            log.error("job %s refused: %s is not one of Lifeline's jobs", job.id, name[:80])
            self.handle_job_failure(
                job, queue=queue, exc_string=f"refused: {name[:80]} is not one of Lifeline's jobs"
            )
            return
        super().execute_job(job, queue)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class JsonCronJob(CronJob):
    """RQ's periodic job, enqueued as JSON like every other (RQ's own enqueues with pickle), and
    only by the first cron process to claim its period (workers/cron.py)."""

    def enqueue(self, connection: redis.Redis) -> Job | None:  # type: ignore[override]
        assert self.func is not None
        assert self.interval is not None
        if not claim_period(connection, self.name, self.interval, CRON_ID):
            return None  # another cron process enqueued it this period
        queue = queue_of(self.queue_name, connection)
        with connection.pipeline() as pipeline:
            job = queue.enqueue(
                self.func, *self.args, **self.kwargs, **self.job_options, pipeline=pipeline
            )
            assert job.enqueued_at is not None
            enqueued = job.enqueued_at.timestamp()
            pipeline.zadd(self.job_history_key, {job.id: enqueued})
            pipeline.zremrangebyrank(self.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
            pipeline.expire(self.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
            cron_job_registry.add(self.name, pipeline, enqueue_timestamp=enqueued)
            pipeline.execute()
        return job


class FloorCron(CronScheduler):
    """RQ's cron scheduler, telling `stop` when a signal asks it to stop (see `FloorWorker`),
    and enqueueing its jobs as JSON."""

    def __init__(self, connection: redis.Redis, stop: threading.Event) -> None:
        super().__init__(connection=connection)
        self.stop = stop

    def every(self, func: Callable[[], object], queue: str, seconds: int, timeout: int) -> None:
        job = JsonCronJob(queue_name=queue, func=func, interval=seconds, job_timeout=timeout)
        self._cron_jobs.append(job)
        self.log.info("Registered %s to run on %s every %d seconds", job.name, queue, seconds)

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


def refuse_if_not_migrated(connection: redis.Redis) -> None:
    """No worker or cron on a Redis still holding an older Lifeline's keys (`key_migration`)."""
    if connection.exists(*key_migration.LEFT_BEHIND):
        raise key_migration.NotMigrated()


def run_worker(
    settings: Settings, burst: bool = False, queues: tuple[JobQueue, ...] = DEFAULT
) -> None:
    """A worker taking jobs from `queues`, the first with a job first (a pool's worker serves
    its pool's queues; a local run's one worker may serve them all)."""
    # What is loaded now is shared with every forked work horse: kept out of the collector's
    # sight, it is neither walked by it nor copied page by page into each horse.
    gc.collect()
    gc.freeze()
    stop = threading.Event()

    def work() -> None:
        names = [queue.value for queue in queues]
        connection = sync_client(settings.redis)
        refuse_if_not_migrated(connection)
        worker = FloorWorker(names, connection, stop)
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
        # Nothing the cron sends blocks in Redis: with a read timeout, a primary that hangs (or
        # a network that drops it) fails the loop fast, and it starts again on the new primary.
        connection = enqueue_client(settings.redis)
        refuse_if_not_migrated(connection)
        scheduler = FloorCron(connection, stop)
        for job in schedule(settings.clinical_probe_interval_seconds):
            scheduler.every(job.func, job.queue.value, job.interval_seconds, job.timeout_seconds)
        scheduler.start()  # type: ignore[no-untyped-call]

    keep_running(cron, "cron", stop)
