"""The RQ queues, named once; jobs are enqueued only through the typed helpers beside their jobs."""

from __future__ import annotations

from enum import StrEnum


class JobQueue(StrEnum):
    """Workers listen to these in order: connecting callers before anything else."""

    CALLS = "calls"
    CLINICAL = "clinical"
    HOUSEKEEPING = "housekeeping"


ALL = tuple(JobQueue)
