"""More than one `lifeline cron`, as on more than one machine: each periodic job is still
enqueued once a period, and when one cron process dies the others carry on without a gap."""

from __future__ import annotations

import signal
import time
from functools import partial
from pathlib import Path

import redis

from tests.e2e.stack import BIN, Stack
from workers import sweeps
from workers.job_queues import JobQueue, queue_of

WINDOW_SECONDS = 6.0
AGENDA_FUNC = f"{sweeps.due.__module__}.{sweeps.due.__name__}"  # every second


def agenda_runs(connection: redis.Redis) -> list[float]:
    """When each agenda job waiting in the calls queue was enqueued (no worker takes them)."""
    queue = queue_of(JobQueue.CALLS, connection)
    return sorted(
        job.enqueued_at.timestamp()
        for job in queue.jobs
        if job.func_name == AGENDA_FUNC and job.enqueued_at is not None
    )


def started(stack: Stack, name: str) -> bool:
    return "Registered" in stack.log(name)


def enqueued_within(connection: redis.Redis, seconds: float) -> list[float]:
    began = time.time()
    time.sleep(seconds)
    return [at for at in agenda_runs(connection) if at >= began]


def test_two_crons_enqueue_each_job_once_a_period_and_one_carries_on_alone(
    redis_url: str, tmp_path: Path
) -> None:
    stack = Stack(redis_url, tmp_path)
    for name in ("cron-a", "cron-b"):
        stack.spawn(name, str(BIN / "lifeline"), "cron")
    connection = redis.Redis.from_url(redis_url)
    try:
        for name in ("cron-a", "cron-b"):
            stack.wait_for(partial(started, stack, name), f"{name} to start")
        both = enqueued_within(connection, WINDOW_SECONDS)
        # One a second between them (each alone makes one a second: twice that, unclaimed).
        assert WINDOW_SECONDS - 2 <= len(both) <= WINDOW_SECONDS + 1, both

        stack.processes["cron-a"].send_signal(signal.SIGKILL)
        stack.processes["cron-a"].wait(timeout=10)
        alone = enqueued_within(connection, WINDOW_SECONDS)
        assert WINDOW_SECONDS - 2 <= len(alone) <= WINDOW_SECONDS + 1, alone
    finally:
        stack.stop()
        connection.close()
