"""A worker process does not die with RQ's worker loop: RQ's `work()` quits, without raising, on
any error it does not expect (a Redis crash in the middle of a job among them), and the process
starts a new worker instead of leaving the floor without one."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest
import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus

from lifeline.redis_server import RedisServer
from tests.e2e.stack import BIN, Stack
from workers.queues import JobQueue


def blocked_on_a_queue(client: redis.Redis) -> list[int]:
    return [int(each["id"]) for each in client.client_list() if each["cmd"] == "blpop"]


def test_a_worker_whose_loop_quits_on_an_error_is_started_again(
    redis_url: str, tmp_path: Path
) -> None:
    stack = Stack(redis_url, tmp_path)
    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    connection = redis.Redis.from_url(redis_url)
    try:
        stack.wait_for(lambda: bool(blocked_on_a_queue(client)), "the worker to wait for jobs")
        (waiting,) = blocked_on_a_queue(client)
        # Its wait for a job ends in an error: RQ logs "unhandled exception, quitting" and returns.
        assert client.client_unblock(waiting, error=True)

        stack.wait_for(
            lambda: blocked_on_a_queue(client) not in ([], [waiting]), "a new worker to wait"
        )
        job = Queue(JobQueue.HOUSEKEEPING.value, connection=connection).enqueue(time.sleep, 0)
        stack.wait_for(
            lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED,
            "the new worker to run a job",
        )
        assert stack.processes["worker"].poll() is None
        assert "worker quit without being asked to" in stack.log("worker")
    finally:
        stack.stop()
        client.close()
        connection.close()


def refused(stack: Stack, name: str) -> bool:
    return "Connection refused" in stack.log(name)


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "in-a-job"])
def test_a_worker_and_the_scheduler_asked_to_stop_while_redis_is_down_stop(
    redis_url: str, redis_server: RedisServer, tmp_path: Path, busy: bool
) -> None:
    """RQ's signal handlers stay with the worker that lost Redis; a stop asked of it while the
    process waits to start another must stop the process, not be forgotten (nor fail because
    that worker, lost in the middle of a job, cannot tell Redis it will stop)."""
    stack = Stack(redis_url, tmp_path)
    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    stack.spawn("cron", str(BIN / "lifeline"), "cron")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    connection = redis.Redis.from_url(redis_url)
    try:
        stack.wait_for(lambda: bool(blocked_on_a_queue(client)), "the worker to wait for jobs")
        stack.wait_for(lambda: "Registered" in stack.log("cron"), "the scheduler to start")
        if busy:
            job = Queue(JobQueue.HOUSEKEEPING.value, connection=connection).enqueue(time.sleep, 5)
            stack.wait_for(
                lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.STARTED,
                "the job to start",
            )
        redis_server.kill()
        for name in ("worker", "cron"):  # RQ's worker retries by itself at first; cron restarts
            stack.wait_for(partial(refused, stack, name), f"{name} to notice")
        if busy:  # the worker lost in its job has quit, and the process waits to start another
            stack.wait_for(lambda: "worker lost Redis" in stack.log("worker"), "a restart")
        before = {name: len(stack.log(name)) for name in ("worker", "cron")}
        for name in ("worker", "cron"):
            stack.processes[name].send_signal(signal.SIGTERM)
        for name in ("worker", "cron"):
            assert stack.processes[name].wait(timeout=15) == 0, stack.log(name)
            # Exit status 0: stopped as asked, not ended by an error (RQ may still log one).
            after = stack.log(name)[before[name] :]
            assert f'"message": "{name} stopped"' in after, after
    finally:
        stack.stop()
        client.close()
        connection.close()
        redis_server.start()


def test_a_failed_job_whose_retry_waits_an_interval_is_run_again(
    redis_url: str, tmp_path: Path
) -> None:
    """The retry policy set at enqueue (a contingency e-mail's, a connect's) needs RQ's scheduler
    to put the job back in its queue when the interval is up."""
    stack = Stack(redis_url, tmp_path)
    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    connection = redis.Redis.from_url(redis_url)
    target = tmp_path / "there on the second try"
    try:
        job = Queue(JobQueue.HOUSEKEEPING.value, connection=connection).enqueue(
            os.remove, str(target), retry=Retry(max=1, interval=1)
        )
        stack.wait_for(
            lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.SCHEDULED,
            "the first try to fail",
        )
        target.touch()
        stack.wait_for(lambda: not target.exists(), "the retry", 10)
        assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED
    finally:
        stack.stop()
        connection.close()
