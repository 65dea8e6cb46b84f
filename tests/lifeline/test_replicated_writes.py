"""Acknowledged means replicated: behind a replica (REDIS_WAIT_REPLICAS), a booked callback, a
journal entry, an audit record and a wrap-up are acknowledged once the replica has them; a
replica that does not answer in time costs the write nothing but is counted; with no replica to
wait for, nothing waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from config.redis_client import RedisTarget, async_client
from lifeline.redis_server import RedisServer
from routing import keys
from routing.audit import Audit
from routing.journal import Journal
from routing.replicated import timeouts
from routing.wrapup import WrapUpOutcome, record
from tests.routing.test_callbacks import book
from tests.sentinels import Sentinels

WAIT_MS = 300


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = RedisServer(tmp_path / "primary", durable=False)
    primary.start()
    replica = RedisServer(
        tmp_path / "replica",
        durable=False,
        arguments=("--replicaof", "127.0.0.1", str(primary.port)),
    )
    try:
        replica.start()
        Sentinels.wait_for(lambda: Sentinels.linked(replica), "the replica to catch up")
        yield primary, replica
    finally:
        replica.kill()
        primary.kill()


def waits(server: RedisServer) -> int:
    """How many WAITs the server has run."""
    client = redis.Redis(port=server.port, decode_responses=True)
    stats = client.info("commandstats").get("cmdstat_wait", {})
    client.close()
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


async def every_durable_write(client: redis.asyncio.Redis, now: float) -> None:
    await book(client, 1, now)  # a caller queued, then their callback booked
    await Journal(client).capture("CASE-1", "case", {"resourceType": "Bundle"}, {}, now)
    await Audit(client).record("sue", "rules.activate", "version 2", now)
    await record(client, "CA" + "1" * 32, "h1", WrapUpOutcome.ADVICE, "", now)


def test_each_durable_write_is_acknowledged_once_the_replica_has_it(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    target = RedisTarget(primary.url, wait_replicas=1, wait_milliseconds=WAIT_MS)
    before = waits(primary)

    async def run() -> None:
        client = async_client(target)
        await every_durable_write(client, time.time())
        await client.aclose()

    asyncio.run(run())
    assert waits(primary) - before == 4  # the callback, the journal entry, the audit, the wrap-up
    on_replica = redis.Redis(port=replica.port)
    assert on_replica.xlen(keys.AUDIT) == 1
    assert on_replica.zcard(keys.CALLBACKS) == 1
    on_replica.close()


def test_with_no_replica_to_wait_for_nothing_waits(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, _ = pair
    before = waits(primary)

    async def run() -> None:
        client = async_client(RedisTarget(primary.url))
        await every_durable_write(client, time.time())
        await client.aclose()

    asyncio.run(run())
    assert waits(primary) == before


def test_a_replica_that_does_not_answer_in_time_is_counted_and_the_write_stands(
    pair: tuple[RedisServer, RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    primary, replica = pair
    target = RedisTarget(primary.url, wait_replicas=1, wait_milliseconds=WAIT_MS)
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGSTOP)  # alive, silent

    async def run() -> tuple[str, float, dict[str, int]]:
        client = async_client(target)
        began = time.monotonic()
        entry = await Audit(client).record("sue", "rules.activate", "version 2", time.time())
        took = time.monotonic() - began
        counted = await timeouts(client)
        await client.aclose()
        return entry, took, counted

    try:
        with caplog.at_level(logging.WARNING, logger="routing.replicated"):
            entry, took, counted = asyncio.run(run())
    finally:
        os.kill(replica.pid, signal.SIGCONT)
    assert entry  # the primary has it: the write stands
    assert took >= WAIT_MS / 1000
    assert counted == {"audit": 1}
    assert "audit acknowledged by 0 of 1 replicas" in caplog.text


def test_a_durable_write_landing_on_a_primary_without_its_script_is_made_once_more(
    pair: tuple[RedisServer, RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a failover: the new primary has none of the old one's scripts (Redis does not
    # replicate its script cache), and the pipeline looked for them on the old one.
    primary, _ = pair
    target = RedisTarget(primary.url, wait_replicas=1, wait_milliseconds=WAIT_MS)
    looked = redis.asyncio.client.Pipeline.load_scripts
    skipped: list[bool] = []

    async def on_the_old_primary(pipe: redis.asyncio.client.Pipeline) -> None:
        # The first look finds nothing to load; then the scripts go (the new primary has none).
        if not skipped:
            skipped.append(True)
            await pipe.immediate_execute_command("SCRIPT", "FLUSH")  # type: ignore[no-untyped-call]
            return
        await looked(pipe)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(redis.asyncio.client.Pipeline, "load_scripts", on_the_old_primary)

    async def run() -> bool:
        client = async_client(target)
        captured = await Journal(client).capture("CASE-2", "case", {}, {}, time.time())
        await client.aclose()
        return captured

    assert asyncio.run(run()) is True
    assert skipped == [True]
    on_primary = redis.Redis(port=primary.port)
    assert on_primary.exists(keys.journal_entry("CASE-2"))
    on_primary.close()
