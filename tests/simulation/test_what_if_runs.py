"""What-if runs as supervisors see them: the progress their worker says, a run nobody took or
whose worker stopped reported as failed with why, what a draft changes that the simulator does
not exercise named, and no pool serving callers ever taking a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import redis.asyncio

from lifeline.simulation.what_if import unexercised
from routing.rules import default_rules
from routing.simulations import STALE_SECONDS, RunStatus, Simulations
from workers.job_queues import DEFAULT, JobQueue

ROOT = Path(__file__).parents[2]


@pytest.mark.anyio
async def test_progress_is_read_back_and_a_silent_run_is_reported_failed_with_why(
    aredis: redis.asyncio.Redis, sync_redis: redis.Redis
) -> None:
    runs = Simulations(aredis)
    waiting = await runs.create(2, "sue", {"hours": 6}, now=1000.0)
    going = await runs.create(2, "sue", {"hours": 6}, now=1000.0)
    Simulations.progressed(sync_redis, going.id, 0.25, now=1100.0)

    seen = await runs.get(going.id, now=1100.0 + STALE_SECONDS - 1)
    assert seen is not None
    assert (seen.status, seen.progress) == (RunStatus.RUNNING, 0.25)

    # Half an hour without a word: neither run is left "running" or "queued" for ever.
    later = 1100.0 + STALE_SECONDS + 1
    stopped = await runs.get(going.id, now=later)
    never_taken = await runs.get(waiting.id, now=later)
    assert stopped is not None
    assert never_taken is not None
    assert stopped.status is RunStatus.FAILED
    assert "stopped reporting progress" in stopped.error
    assert never_taken.status is RunStatus.FAILED
    assert "no worker of the simulations pool took it" in never_taken.error
    # A finished run stays finished however old.
    await runs.done(going.id, "{}")
    finished = await runs.get(going.id, now=later + 10 * STALE_SECONDS)
    assert finished is not None
    assert finished.status is RunStatus.DONE


def test_a_draft_says_which_of_its_changes_the_simulation_cannot_show() -> None:
    active = default_rules()
    onward = active.onward.model_copy(update={"dispatch_warm": not active.onward.dispatch_warm})
    callbacks = active.callbacks.model_copy(update={"first": "patient"})
    draft = active.model_copy(update={"onward": onward, "callbacks": callbacks})
    said = unexercised(draft, active)
    assert len(said) == 1
    assert said[0].startswith("sending callers on")  # callbacks are simulated: not named
    assert unexercised(active, active) == []


def test_no_worker_that_serves_callers_takes_a_simulation() -> None:
    assert JobQueue.SIMULATIONS not in DEFAULT  # `lifeline worker` with no --queues
    for procfile in ("Procfile", "Procfile.dev"):
        for line in (ROOT / procfile).read_text().splitlines():
            name, _, command = line.partition(":")
            if "lifeline worker" not in command:
                continue
            queues = command.split("--queues")[1].split()[0].split(",")
            if JobQueue.SIMULATIONS in queues:
                assert queues == [JobQueue.SIMULATIONS], (procfile, name)
