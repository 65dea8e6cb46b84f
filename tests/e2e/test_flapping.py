"""A clinical system that flaps, with everything running: the cron probe sees it come back and
fail again period after period, the mode goes degraded once and stays there, and returns to
normal only after the hysteresis once the system is steadily up."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from console.api_degraded import HealthEvent
from routing.audit import AuditEntry
from tests.e2e.stack import Stack

FLAP_SECONDS = 1.5
# Longer than three flap periods: even if the probes missed a whole failing period, the healthy
# ones either side of it would not span the recovery time.
RECOVERY_SECONDS = 5.0
HEALTHY_PROBES = 2  # often seen within one period: it is the recovery time that holds
FLAPPING_BREAKER = {
    "CLINICAL_PROBE_INTERVAL_SECONDS": "1",  # the shortest allowed: RQ's cron takes whole seconds
    "CLINICAL_FAILURES_TO_DEGRADE": "2",
    "CLINICAL_FAILURE_WINDOW_SECONDS": "60",
    "CLINICAL_HEALTHY_PROBES_TO_RECOVER": str(HEALTHY_PROBES),
    "CLINICAL_RECOVERY_SECONDS": str(RECOVERY_SECONDS),
}
HEALTH = TypeAdapter(list[HealthEvent])
AUDIT = TypeAdapter(list[AuditEntry])


@pytest.fixture
def flapping_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, with_cron=True, with_clinical=True, env=FLAPPING_BREAKER)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def probes(stack: Stack) -> list[HealthEvent]:
    """The probes the breaker has counted, oldest first."""
    events = HEALTH.validate_json(stack.api.get("/api/v1/clinical/health").content)
    return [event for event in reversed(events) if event.source == "probe"]


def automatic(stack: Stack) -> list[AuditEntry]:
    """The automatic mode changes in the audit log, oldest first."""
    response = stack.api.get("/api/v1/audit", params={"action": "mode.auto"})
    return list(reversed(AUDIT.validate_json(response.content)))


def mode_history(stack: Stack) -> list[str]:
    return [row["mode"] for row in stack.api.get("/api/v1/mode").json()["history"]]


def runs(events: list[HealthEvent]) -> list[list[HealthEvent]]:
    """Consecutive probes with the same outcome, grouped."""
    return [list(group) for _, group in itertools.groupby(events, key=lambda e: e.outcome)]


def flaps(events: list[HealthEvent]) -> int:
    """How many times the probes saw the system come back and then fail again."""
    pairs = itertools.pairwise(event.outcome for event in events)
    return sum(1 for pair in pairs if pair == ("healthy", "failed"))


def test_a_flapping_clinical_system_degrades_the_mode_once_and_it_recovers_once_steady(
    flapping_stack: Stack,
) -> None:
    stack = flapping_stack
    stack.wait_for(lambda: len(probes(stack)) >= 2, "the first probes")
    assert {event.outcome for event in probes(stack)} == {"healthy"}
    assert stack.mode() == "normal"

    stack.clinical("flapping", flap_period_seconds=FLAP_SECONDS)
    stack.wait_for(lambda: stack.mode() == "degraded", "degraded mode", 15)
    [degraded] = automatic(stack)
    assert degraded.target == "degraded"

    def since_degraded() -> list[HealthEvent]:
        return [event for event in probes(stack) if event.at > degraded.at]

    stack.wait_for(lambda: flaps(since_degraded()) >= 3, "three flaps while degraded", 30)
    flapping = since_degraded()
    assert automatic(stack) == [degraded]  # no return to normal, nor a second degrade
    assert mode_history(stack) == ["degraded"]
    assert stack.mode() == "degraded"
    healthy_runs = [run for run in runs(flapping)[:-1] if run[0].outcome == "healthy"]
    assert len(healthy_runs) >= 3
    # The premise held: each time it came back, it failed again before the recovery time.
    assert max(run[-1].at - run[0].at for run in healthy_runs) < RECOVERY_SECONDS

    stack.clinical("up")
    stack.wait_for(lambda: stack.mode() == "normal", "normal mode", RECOVERY_SECONDS + 15)
    changes = automatic(stack)
    assert [change.target for change in changes] == ["degraded", "normal"]
    assert mode_history(stack) == ["normal", "degraded"]
    recovery = changes[1]
    seen = [event for event in probes(stack) if event.at <= recovery.at]
    last_failure = max(event.at for event in seen if event.outcome == "failed")
    streak = [event for event in seen if event.at > last_failure]
    assert streak[-1].at == recovery.at  # the probe that completed the streak changed the mode
    assert len(streak) >= HEALTHY_PROBES
    assert recovery.at - streak[0].at >= RECOVERY_SECONDS
    # ... and no earlier probe would have done: recovery came as soon as the hysteresis allowed.
    *earlier, _ = streak
    assert len(earlier) < HEALTHY_PROBES or earlier[-1].at - streak[0].at < RECOVERY_SECONDS
