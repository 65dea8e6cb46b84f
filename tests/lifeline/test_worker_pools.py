"""The worker pools as the Procfiles run them: every queue served, and the calls pool given
nothing but short jobs, so that no long job (nor a callback's placing, waiting on Twilio) ever
stands between a caller and a handler."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifeline.cli import main
from workers.cron import schedule
from workers.job_queues import ALL, DEFAULT, JobQueue, UnknownQueue, parse

CHECKOUT = Path(__file__).resolve().parents[2]


def pools(procfile: str) -> dict[str, tuple[JobQueue, ...]]:
    """Each `lifeline worker` line of a Procfile: its name and the queues it serves."""
    found = {}
    for line in (CHECKOUT / procfile).read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command)
        if words[:2] == ["lifeline", "worker"]:
            queues = words[words.index("--queues") + 1] if "--queues" in words else ""
            found[name.strip()] = parse(queues) if queues else DEFAULT
    return found


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.dev"])
def test_each_queue_has_a_pool_of_its_own_kind(procfile: str) -> None:
    served = pools(procfile)
    everything = [queue for queues in served.values() for queue in queues]
    assert sorted(everything) == sorted(ALL)  # every queue, each by one pool
    assert served["worker-calls"] == (JobQueue.CALLS,)
    # A callback's placing waits on Twilio's REST API (5 s a request, 30 s a job): on a pool
    # of its own, a slow API holds up callbacks, never a caller on the line.
    assert served["worker-callbacks"] == (JobQueue.CALLBACKS,)
    # The probe has a worker to itself: a housekeeping scan of a large keyspace (seconds) in
    # front of it would make the outage noticed late.
    assert served["worker-health"] == (JobQueue.HEALTH,)


def test_the_periodic_jobs_on_the_calls_queue_are_the_short_ones() -> None:
    on_calls = {job.func.__name__ for job in schedule() if job.queue is JobQueue.CALLS}
    assert on_calls == {"due", "tick"}  # the agenda and the floor sweep, nothing that waits


def test_queues_given_in_any_order_are_served_in_order_of_urgency() -> None:
    assert parse("replay, calls") == (JobQueue.CALLS, JobQueue.REPLAY)
    assert parse("clinical,callbacks,health") == (
        JobQueue.HEALTH,
        JobQueue.CALLBACKS,
        JobQueue.CLINICAL,
    )
    with pytest.raises(UnknownQueue, match="no queue bulk; the queues are calls, health"):
        parse("calls,bulk")


def test_a_worker_for_a_queue_that_does_not_exist_is_refused_with_the_names_that_do() -> None:
    result = CliRunner().invoke(main, ["worker", "--queues", "call"])
    assert result.exit_code == 2
    assert (
        "no queue call; the queues are calls, health, callbacks, clinical, replay, housekeeping"
        in result.output
    )
