"""Redis behind Sentinel: Lifeline's clients find the primary through the sentinels, carry on on
the replica they promote when the primary is killed, and the old primary, started again, comes
back as a replica with what was written meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from rq.job import Job, JobStatus

from config.redis_client import async_client, sync_client
from tests.conftest import make_settings
from tests.e2e.stack import BIN, Stack
from tests.sentinels import Sentinels
from workers import sweeps
from workers.job_queues import JobQueue, queue_of


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[Sentinels]:
    group = Sentinels(tmp_path)
    try:
        yield group.start()
    finally:
        group.stop()


def test_the_settings_name_the_sentinels_every_process_connects_through(
    sentinels: Sentinels,
) -> None:
    addresses = ",".join(f"127.0.0.1:{port}" for port in sentinels.ports)
    settings = make_settings(
        "redis://127.0.0.1/0", redis_sentinels=addresses, redis_sentinel_service="lifeline"
    )
    assert settings.redis.sentinels == sentinels.target.sentinels
    assert settings.redis.service == "lifeline"
    client = sync_client(settings.redis)
    client.set("{ll}:written", "1")
    client.close()
    primary = redis.Redis(port=sentinels.primary.port)
    assert primary.get("{ll}:written") == b"1"
    primary.close()


async def write_until(client: redis.asyncio.Redis, stop: asyncio.Event) -> list[tuple[float, bool]]:
    """INCR every 50 ms: when each was answered (acknowledged, or failed)."""
    tried = []
    while not stop.is_set():
        try:
            await client.incr("{ll}:count")
            tried.append((time.monotonic(), True))
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            tried.append((time.monotonic(), False))
        await asyncio.sleep(0.05)
    return tried


def test_a_killed_primary_is_replaced_and_writes_carry_on_on_the_promoted_replica(
    sentinels: Sentinels,
) -> None:
    old_port, new_port = sentinels.primary.port, sentinels.replica.port

    async def scenario() -> tuple[list[tuple[float, bool]], float, int]:
        client = async_client(sentinels.target)
        stop = asyncio.Event()
        writing = asyncio.create_task(write_until(client, stop))
        await asyncio.sleep(0.5)
        killed = time.monotonic()
        sentinels.primary.kill()
        promoted = await asyncio.to_thread(
            sentinels.wait_for, lambda: sentinels.primary_port() == new_port, "the promotion"
        )
        await asyncio.sleep(1.5)
        stop.set()
        tried = await writing
        count = int(await client.get("{ll}:count") or 0)
        await client.aclose()
        return [(at - killed, ok) for at, ok in tried], promoted, count

    tried, promoted, count = asyncio.run(scenario())
    acknowledged = [at for at, ok in tried if ok]
    assert any(at < 0 for at in acknowledged)  # writing before the kill
    resumed = min(at for at in acknowledged if at > 0.05)  # not one answered as it died
    # Writes resume on the promoted replica, within a second or two of the promotion.
    assert resumed <= promoted + 2.0, (resumed, promoted)
    assert any(at > promoted for at in acknowledged)
    # Every acknowledged write after the promotion is there (the new primary counts them).
    assert count >= sum(1 for at in acknowledged if at > promoted)
    print(f"killed: promoted after {promoted:.1f} s, writes resumed after {resumed:.1f} s")

    # The old primary, started again, rejoins as a replica of the new one, with its writes.
    sentinels.primary.start()
    sentinels.wait_for(lambda: Sentinels.linked(sentinels.primary), "the old primary to rejoin")
    old = redis.Redis(port=old_port)
    sentinels.wait_for(lambda: int(old.get("{ll}:count") or 0) == count, "it to catch up")
    old.close()


def test_workers_and_cron_find_the_primary_through_the_sentinels(
    sentinels: Sentinels, tmp_path: Path
) -> None:
    addresses = ",".join(f"127.0.0.1:{port}" for port in sentinels.ports)
    # REDIS_URL names no server that answers: only the sentinels can lead to it.
    stack = Stack("redis://127.0.0.1:9/0", tmp_path, env={"REDIS_SENTINELS": addresses})
    stack.spawn("worker", str(BIN / "lifeline"), "worker", "--queues", "housekeeping")
    stack.spawn("cron", str(BIN / "lifeline"), "cron")
    connection = sync_client(sentinels.target)
    try:
        job = queue_of(JobQueue.HOUSEKEEPING, connection).enqueue(sweeps.sweep_queues)
        stack.wait_for(
            lambda: Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED,
            "the worker to run a job",
        )
        # The cron's periodic jobs reach the primary's queues (no calls worker takes them).
        stack.wait_for(lambda: queue_of(JobQueue.CALLS, connection).count > 0, "cron's jobs")
    finally:
        stack.stop()
        connection.close()
