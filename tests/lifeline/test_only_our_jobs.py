"""A worker runs only Lifeline's own jobs: job data is JSON (never unpickled), and a job naming any
function but one of ours is failed without being imported or called. Write access to Redis is
not code execution in every worker."""

from __future__ import annotations

import http.server
import json
import os
import pickle
import subprocess
import threading
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer, JSONSerializer

from tests.console.web.test_cli_and_first_run import environment
from tests.e2e.stack import BIN
from workers.cron import SCHEDULE
from workers.job_queues import JOBS, JobQueue


class Payload:
    """What a stranger with write access to Redis would store: unpickling it runs a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def burst_worker(redis_url: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "lifeline"), "worker", "--burst", "--queues", "housekeeping"]
    return subprocess.run(command, env=environment(redis_url), capture_output=True, text=True)


def test_a_job_naming_a_function_not_ours_is_failed_never_run(
    redis_url: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    queue = Queue(JobQueue.HOUSEKEEPING.value, connection=sync_redis, serializer=JSONSerializer)
    job = queue.enqueue("os.system", f"touch {marker}")

    assert burst_worker(redis_url).returncode == 0

    assert not marker.exists()
    raw = redis.Redis.from_url(redis_url)  # RQ's job data is compressed bytes
    fetched = Job.fetch(job.id, connection=raw, serializer=JSONSerializer)
    status, result = fetched.get_status(), fetched.latest_result()
    raw.close()
    assert status == JobStatus.FAILED
    assert result is not None
    assert "not one of Lifeline's jobs" in (result.exc_string or "")


def test_a_job_of_ours_naming_a_callback_is_failed_never_run(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    """RQ would import and call a job's success or failure callback by its name: ours name none,
    so a job that does was written by someone else."""
    queue = Queue(JobQueue.HOUSEKEEPING.value, connection=sync_redis, serializer=JSONSerializer)
    job = queue.enqueue("workers.sweeps.sweep_queues")
    sync_redis.hset(f"rq:job:{job.id}", "success_callback_name", "builtins.print")

    worked = burst_worker(redis_url)

    assert worked.returncode == 0
    assert "<Job " not in worked.stdout + worked.stderr  # print(job, connection, result) never ran
    raw = redis.Redis.from_url(redis_url)
    status = Job.fetch(job.id, connection=raw, serializer=JSONSerializer).get_status()
    raw.close()
    assert status == JobStatus.FAILED


def test_a_job_naming_webhooks_is_failed_and_no_request_is_sent(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    """RQ sends a job's webhooks (with its error text) when it ends: a worker host made to send
    requests anywhere (a cloud's metadata address, say). Lifeline's jobs name none."""
    received: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.path)
            self.send_response(204)
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener) as listener:
        threading.Thread(target=listener.serve_forever, daemon=True).start()
        hook = f"http://127.0.0.1:{listener.server_address[1]}"
        queue = Queue(JobQueue.HOUSEKEEPING.value, connection=sync_redis, serializer=JSONSerializer)
        ours, theirs = queue.enqueue("workers.sweeps.sweep_queues"), queue.enqueue("os.system")
        for job, path in ((ours, "/ours"), (theirs, "/theirs")):
            hooks = [
                {"url": hook + path, "job_status": status, "method": "POST", "timeout": 2}
                for status in ("finished", "failed")
            ]
            sync_redis.hset(f"rq:job:{job.id}", "webhooks", json.dumps(hooks))

        assert burst_worker(redis_url).returncode == 0
        listener.shutdown()
    assert received == []
    raw = redis.Redis.from_url(redis_url)
    status = Job.fetch(ours.id, connection=raw, serializer=JSONSerializer).get_status()
    raw.close()
    assert status == JobStatus.FAILED


def test_pickled_job_data_is_never_unpickled(
    redis_url: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    queue = Queue(JobQueue.HOUSEKEEPING.value, connection=sync_redis, serializer=DefaultSerializer)
    job = queue.enqueue("workers.sweeps.sweep_queues")
    sync_redis.hset(f"rq:job:{job.id}", "data", pickle.dumps(Payload(marker)))

    assert burst_worker(redis_url).returncode == 0
    assert not marker.exists()


def test_our_jobs_are_all_allowed_and_every_periodic_one_is_json() -> None:
    assert {f"{job.func.__module__}.{job.func.__name__}" for job in SCHEDULE} <= JOBS
    for name in JOBS:
        module, _, function = name.rpartition(".")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), name


def test_a_jobs_arguments_never_reach_the_workers_log(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    """A case's job carries the caller's answers and the handler's notes: the worker logs the job
    by its id and function, never by its arguments."""
    queue = Queue(JobQueue.HOUSEKEEPING.value, connection=sync_redis, serializer=JSONSerializer)
    job = queue.enqueue("workers.clinical_jobs.email_case", "NOTES-SAY-CHEST-PAIN")
    worked = burst_worker(redis_url)
    assert worked.returncode == 0
    assert job.id in worked.stderr  # the job was logged, by its id
    assert "NOTES-SAY-CHEST-PAIN" not in worked.stdout + worked.stderr
