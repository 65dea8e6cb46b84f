"""The circuit breaker's hysteresis and the mode every process sees, on a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio

from config.settings import Settings
from routing import keys
from routing.audit import Audit
from routing.breaker import Breaker, BreakerSettings, Outcome
from routing.mode import Mode, ModeStore, OutageMessage
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0
SETTINGS = BreakerSettings(
    failures_to_degrade=3, failure_window_seconds=60, healthy_to_recover=3, recovery_seconds=30
)


def breaker(client: redis.asyncio.Redis) -> Breaker:
    return Breaker(client, ModeStore(client, Audit(client)), SETTINGS)


async def mode(client: redis.asyncio.Redis) -> Mode:
    return (await ModeStore(client, Audit(client)).read()).mode


async def test_k_failures_within_the_window_make_the_mode_degraded(
    aredis: redis.asyncio.Redis,
) -> None:
    b = breaker(aredis)
    assert await b.record(Outcome.FAILED, "probe", T0) is None
    assert await b.record(Outcome.FAILED, "job", T0 + 10) is None
    assert await b.record(Outcome.FAILED, "probe", T0 + 20) == (Mode.DEGRADED, True)
    state = await ModeStore(aredis, Audit(aredis)).read()
    assert (state.mode, state.source, state.since) == (Mode.DEGRADED, "auto", T0 + 20)
    assert state.reason == "3 failures of the clinical system within 60 s"


async def test_automatic_changes_are_in_the_audit_log_even_when_overridden(
    aredis: redis.asyncio.Redis,
) -> None:
    b = breaker(aredis)
    for n in range(3):
        await b.record(Outcome.FAILED, "probe", T0 + n)
    await ModeStore(aredis, Audit(aredis)).force(
        Mode.NORMAL, "our check says it is fine", "sue", T0 + 5
    )
    for n in range(3):
        await b.record(Outcome.HEALTHY, "probe", T0 + 10 + n * 15)
    entries = list(reversed(await Audit(aredis).latest(10)))
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("health checks", "mode.auto", "degraded"),
        ("sue", "mode.set", "normal"),
        ("health checks", "mode.auto", "normal"),
    ]
    assert entries[0].detail == {
        "reason": "3 failures of the clinical system within 60 s",
        "effective": "degraded",
    }
    assert entries[2].detail["effective"] == "normal"  # forced already: it changed nothing


async def test_failures_spread_wider_than_the_window_do_not(aredis: redis.asyncio.Redis) -> None:
    b = breaker(aredis)
    for n in range(5):
        await b.record(Outcome.FAILED, "probe", T0 + n * 31)
    assert await mode(aredis) is Mode.NORMAL


async def test_recovery_needs_m_healthy_probes_in_a_row_over_t_seconds(
    aredis: redis.asyncio.Redis,
) -> None:
    b = breaker(aredis)
    for n in range(3):
        await b.record(Outcome.FAILED, "probe", T0 + n)
    await b.record(Outcome.HEALTHY, "probe", T0 + 10)
    await b.record(Outcome.HEALTHY, "probe", T0 + 15)
    await b.record(Outcome.HEALTHY, "probe", T0 + 20)  # three, but over 10 s only
    assert await mode(aredis) is Mode.DEGRADED
    assert await aredis.ttl(keys.CLINICAL_STREAK) > 0  # a streak nobody hears of again expires
    await b.record(Outcome.HEALTHY, "job", T0 + 45)  # jobs do not count towards recovery
    assert await mode(aredis) is Mode.DEGRADED
    assert await b.record(Outcome.HEALTHY, "probe", T0 + 40) == (Mode.NORMAL, True)


async def test_a_flapping_system_does_not_flip_the_mode_back_and_forth(
    aredis: redis.asyncio.Redis,
) -> None:
    b = breaker(aredis)
    flips = []
    for n in range(60):  # up and down every 5 s for 5 minutes
        outcome = Outcome.FAILED if (n // 2) % 2 else Outcome.HEALTHY
        flip = await b.record(outcome, "probe", T0 + n * 5)
        if flip is not None:
            flips.append(flip[0])
    assert flips == [Mode.DEGRADED]


async def test_a_supervisor_forces_a_mode_and_gives_control_back(
    aredis: redis.asyncio.Redis,
) -> None:
    modes = ModeStore(aredis, Audit(aredis))
    assert await modes.force(Mode.DEGRADED, "drill", "sam", T0) == (Mode.DEGRADED, True)
    b = breaker(aredis)
    for n in range(3):  # healthy probes do not end a forced mode
        await b.record(Outcome.HEALTHY, "probe", T0 + n * 20)
    state = await modes.read()
    assert (state.mode, state.control, state.source) == (Mode.DEGRADED, "forced", "supervisor:sam")

    assert await modes.force(None, "drill over", "sam", T0 + 100) == (Mode.NORMAL, True)
    assert (await modes.read()).control == "auto"
    history = await modes.history()
    assert [row["mode"] for row in history] == ["normal", "degraded"]


async def test_a_change_is_seen_by_every_process_within_two_seconds(
    aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    other_client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    other_process = ModeStore(other_client, Audit(other_client))
    try:
        assert (await other_process.current()).mode is Mode.NORMAL
        await ModeStore(aredis, Audit(aredis)).force(Mode.DEGRADED, "test", "sam", T0)
        started = time.monotonic()
        while (await other_process.current()).mode is not Mode.DEGRADED:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # another process's view can only be polled
        assert time.monotonic() - started < 2.0
    finally:
        await other_process.redis.aclose()


async def test_the_outage_message_is_set_in_both_languages_and_audited(
    aredis: redis.asyncio.Redis,
) -> None:
    modes = ModeStore(aredis, Audit(aredis))
    assert "systems are affected" in (await modes.message()).en
    await modes.set_message(OutageMessage(en="Delays today.", cy="Oedi heddiw."), "sam", T0)
    assert (await modes.message()).cy == "Oedi heddiw."


def by_default() -> tuple[Settings, BreakerSettings]:
    settings = make_settings("redis://127.0.0.1:6379/0")  # every breaker setting its default
    return settings, BreakerSettings(
        failures_to_degrade=settings.clinical_failures_to_degrade,
        failure_window_seconds=settings.clinical_failure_window_seconds,
        healthy_to_recover=settings.clinical_healthy_probes_to_recover,
        recovery_seconds=settings.clinical_recovery_seconds,
    )


async def test_by_default_an_outage_is_noticed_within_ten_seconds_at_worst(
    aredis: redis.asyncio.Redis,
) -> None:
    settings, breaker_settings = by_default()
    b = Breaker(aredis, ModeStore(aredis, Audit(aredis)), breaker_settings)
    interval, timeout = (
        settings.clinical_probe_interval_seconds,
        settings.clinical_probe_timeout_seconds,
    )
    assert timeout < interval  # a probe is over before the next is due: none is late, none skipped
    # The worst case: the system answers a probe, then hangs, and each later probe (on its own
    # worker, every interval) waits out its whole timeout before it counts as a failure.
    await b.record(Outcome.HEALTHY, "probe", T0)
    verdict, failed_at = None, T0
    for n in range(1, 20):
        failed_at = T0 + n * interval + timeout
        verdict = await b.record(
            Outcome.FAILED, "probe", failed_at, f"no answer within {timeout} s"
        )
        if verdict is not None:
            break
    assert verdict == (Mode.DEGRADED, True)
    assert failed_at - T0 <= 10.0


async def test_by_default_recovery_still_waits_for_health_over_time(
    aredis: redis.asyncio.Redis,
) -> None:
    settings, breaker_settings = by_default()
    b = Breaker(aredis, ModeStore(aredis, Audit(aredis)), breaker_settings)
    interval = settings.clinical_probe_interval_seconds
    for n in range(settings.clinical_failures_to_degrade):
        await b.record(Outcome.FAILED, "probe", T0 + n * interval)
    back = T0 + 60  # healthy from here, but for one failed probe 10 s on
    outcomes = [Outcome.FAILED if n * interval == 10 else Outcome.HEALTHY for n in range(40)]
    normal_at = None
    for n, outcome in enumerate(outcomes):
        if await b.record(outcome, "probe", back + n * interval) is not None:
            normal_at = back + n * interval
            break
    # The streak starts again after the failure: recovery takes the whole recovery time after it.
    assert normal_at == back + 10 + interval + settings.clinical_recovery_seconds
