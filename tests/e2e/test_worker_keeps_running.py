"""A worker process does not die with RQ's worker loop: RQ's `work()` quits, without raising, on
any error it does not expect (a Redis crash in the middle of a job among them), and the process
starts a new worker instead of leaving the floor without one."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
import redis
import redis.asyncio
from aiosmtpd.controller import Controller
from rq import Retry
from rq.job import Job, JobStatus

from lifeline.redis_server import RedisServer, free_port
from routing.journal import Journal
from tests.e2e.stack import BIN, Stack
from tests.workers.conftest import Sink
from workers import sweeps
from workers.enqueue import Jobs
from workers.job_queues import JobQueue, queue_of


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
        job = queue_of(JobQueue.HOUSEKEEPING, connection).enqueue(sweeps.sweep_queues)
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
    silent = silent_mail_server()  # a job sending mail to it waits there for its greeting
    stack = Stack(redis_url, tmp_path, env=mail_to(silent.getsockname()[1]))
    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    stack.spawn("cron", str(BIN / "lifeline"), "cron")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    connection = redis.Redis.from_url(redis_url)
    try:
        stack.wait_for(lambda: bool(blocked_on_a_queue(client)), "the worker to wait for jobs")
        stack.wait_for(lambda: "Registered" in stack.log("cron"), "the scheduler to start")
        if busy:
            asyncio.run(journal_one(redis_url))
            job = Jobs(connection).email_case(CASE)
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
        silent.close()
        redis_server.start()


def test_a_failed_job_whose_retry_waits_an_interval_is_run_again(
    redis_url: str, tmp_path: Path
) -> None:
    """The retry policy set at enqueue (a contingency e-mail's, a connect's) needs RQ's scheduler
    to put the job back in its queue when the interval is up."""
    port = free_port()
    stack = Stack(redis_url, tmp_path, env=mail_to(port))
    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    connection = redis.Redis.from_url(redis_url)
    sink = Sink()
    try:
        asyncio.run(journal_one(redis_url))
        # No mail server yet: it fails, to be tried again a second later.
        job = queue_of(JobQueue.CLINICAL, connection).enqueue(
            "workers.clinical_jobs.email_case", CASE, retry=Retry(max=1, interval=1)
        )
        stack.wait_for(
            lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.SCHEDULED,
            "the first try to fail",
        )
        server = Controller(sink, hostname="127.0.0.1", port=port)
        server.start()
        try:
            stack.wait_for(lambda: bool(sink.messages), "the retry", 10)
        finally:
            server.stop()
        stack.wait_for(  # the mail went: the job ends as it does
            lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED,
            "the retry to finish",
        )
    finally:
        stack.stop()
        connection.close()


CASE = "MAILD-00001"


def mail_to(port: int) -> dict[str, str]:
    return {
        "CONTINGENCY_EMAIL_TO": "receiving@service.example",
        "SMTP_URL": f"smtp+insecure://127.0.0.1:{port}",
    }


async def journal_one(redis_url: str) -> None:
    """A contingency record to e-mail."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        facts = {
            "priority": 3,
            "reason": "medical",
            "locale": "en-GB",
            "created": datetime.now(UTC).isoformat(),
        }
        await Journal(client).capture(CASE, "referral", {}, facts, time.time())
    finally:
        await client.aclose()


def silent_mail_server() -> socket.socket:
    """Listens, and never says a word: a client waits for its greeting until it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener
