"""The periodic jobs, for `lifeline cron` (RQ's cron scheduler), and the claim that lets any
number of cron processes run, on as many machines, with each job enqueued once a period.

RQ's cron keeps its schedule in memory, so two processes would each enqueue every job. Before a
process enqueues a job, it claims that job's current period in Redis (SET NX on the period's
key, which expires after two periods); a period already claimed is skipped. Periods are counted
on Redis's clock (TIME), one for every machine, not on each machine's own. There is no holder
to fail over from: whichever process comes first in a period enqueues for it, so one that dies
costs at most the period it was about to claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from routing import keys
from routing.agenda import SWEEP_SECONDS
from workers import clinical_jobs, recordings, sweeps
from workers.job_queues import JobQueue

# KEYS[1] the job's claims' prefix. ARGV[1] its period in seconds, ARGV[2] who claims. 1 if this
# call claimed the current period.
_CLAIM = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period_ms = math.floor(tonumber(ARGV[1]) * 1000)
local period = math.floor(now_ms / period_ms)
if redis.call('SET', KEYS[1] .. ':' .. period, ARGV[2], 'NX', 'PX', 2 * period_ms) then
  return 1
end
return 0
"""


def claim_period(connection: redis.Redis, job_name: str, seconds: int, who: str) -> bool:
    """Whether `who` is the first to enqueue `job_name` in the current period of `seconds`."""
    claimed = connection.eval(_CLAIM, 1, keys.cron_claim(job_name), seconds, who)
    return bool(claimed)


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
        # Twilio's REST API, page by page and delete by delete: housekeeping, never beside a
        # caller or a callback; each well inside its timeout (recordings.RUN_SECONDS).
        Periodic(
            recordings.find_untold,
            JobQueue.HOUSEKEEPING,
            interval_seconds=3600,
            timeout_seconds=300,
        ),
        Periodic(
            recordings.delete_expired,
            JobQueue.HOUSEKEEPING,
            interval_seconds=3600,
            timeout_seconds=300,
        ),
    )


SCHEDULE = schedule()
