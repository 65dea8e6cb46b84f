"""The RQ queues, named once, in order of urgency, and their jobs written as JSON; a worker runs
only the jobs named in `JOBS`. Jobs are enqueued through the typed helpers of `workers/enqueue.py`,
the periodic ones by `lifeline cron` (on the schedule of `workers/cron.py`).

Each worker pool serves some of them (the Procfile's `worker-*` lines): the calls pool only
`calls`, whose jobs are all short, so that no long job ever stands between a caller and a
handler; callbacks are placed by a pool of their own, since placing one waits on Twilio's REST
API (5 s a request, 30 s a job). A deployment scales each pool on its own.
"""

from __future__ import annotations

from enum import StrEnum

import redis
from rq import Queue
from rq.serializers import JSONSerializer


class JobQueue(StrEnum):
    CALLS = "calls"  # callers' connects, the floor sweep, the agenda: short jobs only
    HEALTH = "health"  # the clinical probe: never behind a case being sent
    # Callbacks placed: a patient waits at home, not on the line, so after callers and the probe
    # (a short job, late only at the cost of an outage noticed late), before cases sent.
    CALLBACKS = "callbacks"
    CLINICAL = "clinical"  # cases sent to the clinical system, contingency e-mails
    REPLAY = "replay"  # the contingency journal's replay, one small batch a job
    HOUSEKEEPING = "housekeeping"  # queue entries whose records expired
    SIMULATIONS = "simulations"  # supervisors' what-if runs: minutes of CPU each, a pool apart


ALL = tuple(JobQueue)
# What `lifeline worker` serves when not told: never the simulations, minutes of CPU each that
# would stand in front of callers' connects (their own pool serves them, at a lower priority).
DEFAULT = tuple(queue for queue in ALL if queue is not JobQueue.SIMULATIONS)
# What nobody waits on: a pool serving only these runs below the others on a shared CPU.
BACKGROUND = frozenset({JobQueue.REPLAY, JobQueue.HOUSEKEEPING, JobQueue.SIMULATIONS})

# Job data as JSON, never pickled: reading a job must not be able to run code.
SERIALIZER = JSONSerializer

# Every function a job may name: a worker fails any other job without importing or calling it.
JOBS = frozenset(
    {
        "workers.connect.connect",
        "workers.transfers.release_leg",
        "workers.transfers.redirect_call",
        "workers.transfers.dial_dispatcher",
        "workers.transfers.hang_up",
        "workers.clinical_jobs.send_case",
        "workers.clinical_jobs.email_case",
        "workers.clinical_jobs.confirm_booking",
        "workers.clinical_jobs.probe",
        "workers.replay.reconcile",
        "workers.replay.replay_batch",
        "workers.sweeps.due",
        "workers.sweeps.tick",
        "workers.sweeps.rooms",
        "workers.sweeps.sweep_queues",
        "workers.recordings.find_untold",
        "workers.recordings.delete_expired",
        "lifeline.simulation.what_if.what_if",
    }
)


class UnknownQueue(ValueError):
    pass


def parse(names: str) -> tuple[JobQueue, ...]:
    """Comma-separated queue names, in the order of urgency whatever the order given."""
    given = {name.strip() for name in names.split(",") if name.strip()}
    unknown = sorted(given - {queue.value for queue in ALL})
    if unknown or not given:
        known = ", ".join(queue.value for queue in ALL)
        raise UnknownQueue(f"no queue {', '.join(unknown) or 'given'}; the queues are {known}")
    return tuple(queue for queue in ALL if queue.value in given)


def queue_of(name: JobQueue | str, connection: redis.Redis) -> Queue:
    """An RQ queue of ours, reading and writing jobs as JSON."""
    return Queue(str(name), connection=connection, serializer=SERIALIZER)
