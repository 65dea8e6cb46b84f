"""`make run`'s demo handlers: on duty at once, on a first run and on every run after it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis.asyncio

from lifeline.devrun import (
    DEMO_HANDLERS,
    LOGINS_FILE,
    NUMBER_HASH_KEY_FILE,
    kept_number_hash_key,
    local_values,
    seed_demo_handlers,
    up_lines,
)
from routing import keys
from routing.handlers import Handlers, HandlerState
from routing.rules import default_rules
from routing.sweeps import sweep_floor

pytestmark = pytest.mark.anyio


async def test_the_demo_handlers_stay_on_duty_when_a_run_starts_on_an_earlier_runs_data(
    aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    rules = default_rules()
    await seed_demo_handlers(redis_url, rules.skills)
    # The earlier run stopped with them available; their consoles' last beat is an hour old.
    hour_ago = time.time() - 3600
    await aredis.zadd(keys.HEARTBEATS, dict.fromkeys(DEMO_HANDLERS, hour_ago))

    await seed_demo_handlers(redis_url, rules.skills)  # the next `make run`
    report = await sweep_floor(aredis, rules, time.time())

    assert report.handlers_gone == []
    for handler_id in DEMO_HANDLERS:
        handler = await Handlers(aredis).get(handler_id)
        assert handler.state is HandlerState.AVAILABLE


def test_a_local_run_makes_its_number_hash_key_once_and_keeps_it_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("var").mkdir()

    key = kept_number_hash_key()

    assert len(key) >= 32
    assert kept_number_hash_key() == key  # the next run: the same callers known again
    assert NUMBER_HASH_KEY_FILE.stat().st_mode & 0o077 == 0


def test_a_local_runs_processes_log_readable_lines_unless_told_otherwise() -> None:
    assert local_values({}, None)["LOG_FORMAT"] == "text"
    assert "LOG_FORMAT" not in local_values({"LOG_FORMAT": "json"}, None)


def test_once_up_a_local_run_says_again_where_to_go_but_not_the_passwords() -> None:
    values = local_values({"PORT": "8123", "SIM_PHONE_PORT": "8124"}, "redis://127.0.0.1:1/0")
    said = up_lines(values)
    assert "http://127.0.0.1:8123/login" in said
    assert "http://127.0.0.1:8124" in said
    assert ".venv/bin/lifeline call" in said
    assert str(LOGINS_FILE) in said  # where the passwords are, not the passwords
    assert values["TWILIO_AUTH_TOKEN"] not in said
    assert values["METRICS_TOKEN"] not in said
