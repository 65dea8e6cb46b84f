"""A webhook's enqueue when Redis goes quiet mid-call (stopped, or a failover that leaves the
connection open to nobody): the caller's answer does not wait for it, and the enqueue's thread
is not held for ever."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from config.redis_client import enqueue_client
from lifeline.redis_server import RedisServer
from routing.cases import CaseKind, ClinicalCase
from workers.enqueue import HAND_OFF_SECONDS, Jobs


@pytest.fixture
def quiet_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop (SIGSTOP) and let go on."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        assert server._process is not None
        os.kill(server._process.pid, signal.SIGCONT)
        server.kill()


def stopped(server: RedisServer) -> None:
    assert server._process is not None
    os.kill(server._process.pid, signal.SIGSTOP)


def case(kind: CaseKind, number: str, priority: int) -> ClinicalCase:
    return ClinicalCase(
        case_id="ABCDE-12345",
        kind=kind,
        created=datetime.now(UTC),
        caller_number=number,
        locale="en-GB",
        reason="unknown" if kind is CaseKind.AMBULANCE else "medical",
        priority=priority,
    )


def an_ambulance_request(jobs: Jobs) -> None:
    jobs.send_case(case(CaseKind.AMBULANCE, "", 1), open_case=True)


async def webhook(jobs: Jobs, caplog: pytest.LogCaptureFixture) -> float:
    """How long the webhook waited; then, the process going on, until the failure is logged."""
    started = time.monotonic()
    await jobs.hand_off("the ambulance request", an_ambulance_request, jobs)
    waited = time.monotonic() - started
    # The enqueue goes on without the caller and fails when the read times out: logged.
    deadline = time.monotonic() + 10
    while "the ambulance request not queued" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        await asyncio.sleep(0.05)
    return waited


def test_a_webhook_waits_a_moment_at_most_for_an_enqueue_redis_does_not_answer(
    quiet_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    connection = enqueue_client(quiet_redis.url)
    jobs = Jobs(connection)
    try:
        connection.ping()  # connected before Redis goes quiet, as a running process is
        stopped(quiet_redis)
        waited = asyncio.run(webhook(jobs, caplog))
    finally:
        jobs.close()
        connection.close()
    assert waited < HAND_OFF_SECONDS + 0.5


def test_an_enqueue_to_a_redis_gone_quiet_fails_rather_than_holding_its_thread(
    quiet_redis: RedisServer,
) -> None:
    connection = enqueue_client(quiet_redis.url)
    jobs = Jobs(connection)
    outcome: list[BaseException | None] = []

    def enqueue() -> None:
        try:
            an_ambulance_request(jobs)
            outcome.append(None)
        except redis.RedisError as error:
            outcome.append(error)

    try:
        connection.ping()
        stopped(quiet_redis)
        thread = threading.Thread(target=enqueue, daemon=True)
        thread.start()
        thread.join(timeout=10)  # the client's timeout is a second, tried twice
        assert not thread.is_alive(), "the enqueue is still waiting on a Redis that never answers"
    finally:
        os.kill(quiet_redis._process.pid, signal.SIGCONT)  # type: ignore[union-attr]
        jobs.close()
        connection.close()
    assert isinstance(outcome[0], redis.TimeoutError)


def test_a_failed_cases_job_keeps_the_patients_details_no_longer_than_retention(
    quiet_redis: RedisServer,
) -> None:
    connection = enqueue_client(quiet_redis.url)
    try:
        for days, kept in ((1, 86_400), (7, 7 * 86_400), (365, 30 * 86_400)):
            job = Jobs(connection, retention_days=days).send_case(
                case(CaseKind.REFERRAL, "+447700900123", 3)
            )
            assert job.failure_ttl == kept, days
            job.delete()
    finally:
        connection.close()
