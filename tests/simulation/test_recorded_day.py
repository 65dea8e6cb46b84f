"""A recorded day replayed: calls placed through the real webhooks are recorded as they reach
a queue (when each started, its line, its answers; never a number, and only for the retention
period), and `lifeline simulate --recorded DAY` replays exactly those callers at their own
times with their own answers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path

import pytest
import redis
import redis.asyncio

from config.settings import Settings
from lifeline.simulation.inputs import Shift, scenario_from
from lifeline.simulation.recorded import RecordedCall, recorded_day
from lifeline.simulation.run import simulate_on_own_redis
from routing import keys
from routing.clock import VirtualClock
from routing.figures import LONDON
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    DISPATCH,
    MAIN_LINE,
    NUMBER_HASH_KEY,
    PUBLIC_BASE_URL,
    WELSH_LINE,
)
from tests.ivr.test_call_flow import to_queue
from tests.twilio import TwilioClient

LIFELINE = Path(sys.executable).with_name("lifeline")
DAY = date(2026, 1, 5)
NINE = datetime.combine(DAY, time(9), tzinfo=LONDON).timestamp()

# Who calls, when (seconds after 09:00), on which line, pressing what; and where they go.
CALLERS = [
    (0, MAIN_LINE, ["2", "1"], ("general", 3)),  # not an emergency, a medical problem
    (40, MAIN_LINE, ["1"], ("emergency", 1)),
    (95, MAIN_LINE, ["2", "3"], ("dental", 4)),
    (300, WELSH_LINE, ["1", "2", "1"], ("welsh", 3)),  # Welsh, not an emergency, medical
    (301, MAIN_LINE, ["2", "2"], ("mental_health", 3)),
]


def place_the_day(twilio: TwilioClient, clock: VirtualClock) -> None:
    for n, (after, line, pressed, _) in enumerate(CALLERS):
        clock.set(NINE + after)
        call = twilio.call(f"+4477009{n:05d}", line)
        assert to_queue(call, *pressed).has("Enqueue") or pressed == ["1"]


@pytest.fixture
def recorded(twilio: TwilioClient, clock: VirtualClock, sync_redis: redis.Redis) -> list[str]:
    place_the_day(twilio, clock)
    return [str(m) for m in sync_redis.zrange(keys.recorded_day(DAY.isoformat()), 0, -1)]


def test_each_call_is_recorded_once_with_its_answers_and_no_number(
    recorded: list[str], sync_redis: redis.Redis, settings: Settings
) -> None:
    assert len(recorded) == len(CALLERS)
    raw = " ".join(recorded)
    assert "+4477009" not in raw
    assert CALLER not in raw
    assert [json.loads(m)["started"] - NINE for m in recorded] == [c[0] for c in CALLERS]
    ttl = sync_redis.ttl(keys.recorded_day(DAY.isoformat()))
    assert settings.retention_days * 86_400 - 60 < ttl <= settings.retention_days * 86_400


def read_back(redis_url: str, welsh_lines: tuple[str, ...]) -> list[RecordedCall]:
    async def read() -> list[RecordedCall]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await recorded_day(client, DAY, welsh_lines)
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_the_simulator_replays_exactly_those_callers(
    recorded: list[str], redis_url: str, settings: Settings
) -> None:
    calls = read_back(redis_url, settings.welsh_line_numbers)
    assert [call.started for call in calls] == [9 * 3600 + c[0] for c in CALLERS]
    assert [call.welsh_line for call in calls] == [c[1] == WELSH_LINE for c in CALLERS]
    scenario = scenario_from(start=DAY, hours=10, seed=3)
    # Handlers with every skill all day: each caller waits in the queue their answers chose.
    everyone = {"clinical": 3, "mental_health": 3, "dental": 3, "welsh": 3}
    staffing = scenario.staffing.model_copy(
        update={
            "shifts": [Shift(name="all", start=time(0), end=time(0), handlers=3, skills=everyone)]
        }
    )
    scenario = scenario.model_copy(update={"recorded": calls, "staffing": staffing})
    result = simulate_on_own_redis(scenario)
    figures = result.days[0].report.figures
    placed = sorted((row.queue, row.priority) for row in figures for _ in range(row.offered))
    assert placed == sorted(c[3] for c in CALLERS)
    assert result.anomalies == []


def test_lifeline_simulate_replays_a_recorded_day_from_the_live_redis(
    recorded: list[str], redis_url: str, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
        "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
        "WELSH_LINE_NUMBERS": WELSH_LINE,
        "NUMBER_HASH_KEY": NUMBER_HASH_KEY,
    }
    done = subprocess.run(
        [str(LIFELINE), "simulate", "--recorded", DAY.isoformat(), "--hours", "10",
         "--out", str(tmp_path / "out")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"replaying {len(CALLERS)} calls recorded on {DAY}" in done.stdout
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["days"][0]["date"] == DAY.isoformat()
    assert result["days"][0]["report"]["total"]["offered"] == len(CALLERS)
    nothing = subprocess.run(
        [str(LIFELINE), "simulate", "--recorded", "2026-01-06", "--out", str(tmp_path / "x")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert nothing.returncode == 2
    assert "no calls recorded on 2026-01-06" in nothing.stderr
