"""The periodic jobs, for `lifeline cron` (RQ's cron scheduler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing.agenda import SWEEP_SECONDS
from workers import clinical_jobs, sweeps
from workers.job_queues import JobQueue


@dataclass(frozen=True)
class Periodic:
    func: Any
    queue: JobQueue
    interval_seconds: int
    timeout_seconds: int


def schedule(probe_interval_seconds: int = 2) -> tuple[Periodic, ...]:
    return (
        Periodic(sweeps.due, JobQueue.CALLS, interval_seconds=SWEEP_SECONDS, timeout_seconds=30),
        Periodic(sweeps.tick, JobQueue.CALLS, interval_seconds=5, timeout_seconds=30),
        # Asks Twilio (it waits on REST): beside the callbacks, never before a caller.
        Periodic(sweeps.rooms, JobQueue.CALLBACKS, interval_seconds=10, timeout_seconds=30),
        Periodic(
            clinical_jobs.probe,
            JobQueue.HEALTH,
            interval_seconds=probe_interval_seconds,
            timeout_seconds=30,
        ),
        Periodic(
            sweeps.sweep_queues, JobQueue.HOUSEKEEPING, interval_seconds=300, timeout_seconds=60
        ),
    )


SCHEDULE = schedule()
