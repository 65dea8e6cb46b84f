"""A Redis kept by a Lifeline from before the `{ll}` hash tag: no process starts on it until
`lifeline keys migrate` has moved its keys (else it would write beside them, and the waiting
calls, callbacks and journal entries there would be lost to sight); the migration itself goes
through keys that expire while it runs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from config.redis_client import async_client
from config.settings import Settings
from lifeline.app import create_app
from routing import keys
from routing.key_migration import NotMigrated, migrate
from tests.console.web.test_cli_and_first_run import environment
from tests.processes import lifeline


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Away from the checkout, so that no `.env` or `var/run.env` of a local run is read."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def older(sync_redis: redis.Redis) -> None:
    sync_redis.sadd("ll:users", "sue")
    sync_redis.xadd("ll:journal", {"case": "C1"})  # a case still to be replayed


@pytest.mark.usefixtures("older")
def test_the_web_process_does_not_start_and_seeds_nothing(
    settings: Settings, sync_redis: redis.Redis
) -> None:
    with (
        pytest.raises(NotMigrated, match="lifeline keys migrate"),
        TestClient(create_app(settings)),
    ):
        pass
    assert sync_redis.exists(keys.RULES_ACTIVE) == 0  # nothing written beside the old keys


@pytest.mark.usefixtures("older")
@pytest.mark.parametrize("command", [["worker"], ["cron"]])
def test_a_worker_and_cron_do_not_start(redis_url: str, command: list[str]) -> None:
    # Their own processes, given time to have started: a worker or cron that did would run on.
    done = lifeline(*command, env=os.environ | environment(redis_url))
    assert done.returncode == 2
    assert "run `lifeline keys migrate` first" in done.stderr


@pytest.mark.usefixtures("older")
def test_once_migrated_the_web_process_starts_on_what_was_there(
    redis_url: str, settings: Settings, sync_redis: redis.Redis
) -> None:
    # In a process of its own, as an operator runs it (and so that its logging set-up stays
    # there).
    done = lifeline("keys", "migrate", env=os.environ | environment(redis_url))
    assert (done.returncode, done.stdout) == (0, "2 keys moved\n")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    assert sync_redis.smembers(keys.USERS) == {"sue"}
    assert sync_redis.xlen(keys.JOURNAL) == 1


def test_keys_that_expire_while_the_migration_runs_do_not_stop_it(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    for n in range(2000):
        sync_redis.set(f"ll:cps:held:{n}", "1", px=30)
    sync_redis.sadd("ll:users", "sue")

    async def run() -> None:
        client = async_client(redis_url)
        try:
            await migrate(client)
        finally:
            await client.aclose()

    asyncio.run(run())
    assert sync_redis.smembers(keys.USERS) == {"sue"}
    assert sync_redis.keys("ll:*") == []
