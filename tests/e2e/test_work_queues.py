"""Work queues by urgency, with everything running as the Procfile runs it: neither a long replay
of the contingency journal nor a callback's placing held up by a slow Twilio ever stands between
a caller and a free handler, nor holds up the sweep."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.cron import get_cron_job_ids
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from tests.conftest import CALLER, DISPATCH
from tests.e2e.stack import Stack
from tests.e2e.test_callbacks_through_the_network import book
from tests.e2e.test_outage import journal
from workers.job_queues import SERIALIZER
from workers.telephony import REQUEST_TIMEOUT_SECONDS

ENTRIES = 6
SLOW_REPLAY = {"REPLAY_PER_SECOND": "0.25"}  # an entry every 4 s: 20 s for the six


@pytest.fixture
def pools(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(
        redis_url, tmp_path, with_cron=True, with_clinical=True, env=SLOW_REPLAY, pools=True
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def sweeps_finished_since(stack: Stack, since: float) -> int:
    """Floor sweeps (`rq cron`'s jobs) that ran to the end after `since`."""
    connection = redis.Redis.from_url(stack.redis_url)
    try:
        ids = get_cron_job_ids("workers.sweeps.tick", connection)
        jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    finally:
        connection.close()
    after = datetime.fromtimestamp(since, UTC).replace(tzinfo=None)
    return sum(
        1
        for job in jobs
        if job.get_status(refresh=False) == JobStatus.FINISHED
        and job.ended_at is not None
        and job.ended_at.replace(tzinfo=None) > after
    )


def test_a_caller_with_a_free_handler_is_connected_while_a_long_replay_goes_on(
    pools: Stack,
) -> None:
    stack = pools
    stack.sim.party(DISPATCH, answer="answer", ring_seconds=1, talk_seconds=5)
    journal(stack, ENTRIES)  # emergencies while degraded (forced): ambulance requests kept
    back = stack.api.put("/api/v1/mode", json={"mode": "normal", "reason": "back"})
    assert back.status_code == 200  # ... which starts the replay
    stack.wait_for(lambda: len(stack.received()) >= 1, "the replay to start", 30)
    started = stack.api.get("/api/v1/journal/progress").json()["started"]

    stack.handler("h1")
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=30)
    caller = stack.sim.call(["2", "1"], caller="+447700900999")
    stack.sim.wait_event(caller, "bridged")  # within the simulator's 10 s
    progress = stack.api.get("/api/v1/journal/progress").json()
    assert progress["running"]  # connected while the replay was still going on...
    assert progress["pending"] > 0  # ... with entries still to send

    stack.wait_for(lambda: sweeps_finished_since(stack, started) >= 1, "a floor sweep", 10)
    progress = stack.api.get("/api/v1/journal/progress").json()
    assert progress["running"]  # the floor sweep (every 5 s) ran while the replay went on
    assert progress["pending"] > 0


def job_status(stack: Stack, job_id: str) -> JobStatus | None:
    connection = redis.Redis.from_url(stack.redis_url)
    try:
        job = Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
        return job.get_status(refresh=False)
    except NoSuchJobError:
        return None
    finally:
        connection.close()


def held(stack: Stack) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = stack.sim.http.get("/sim/holds").json()["held"]
    return rows


def test_a_caller_is_connected_while_a_callbacks_placing_waits_on_a_slow_twilio(
    pools: Stack,
) -> None:
    stack = pools
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=30)
    stack.sim.party("client:h2", answer="answer", ring_seconds=1, talk_seconds=30)
    stack.sim.party(CALLER, answer="answer", ring_seconds=1, talk_seconds=5)
    callback_id = book(stack)
    placing = f"connect-cb-{callback_id}-1"
    # Twilio is slow: the callback's call, once asked for, is held (up to the client's 5 s).
    stack.sim.faults(hold={"stage": "request", "method": "POST", "count": 1})
    try:
        stack.handler("h1")  # the callback is offered to h1, and its placing starts
        stack.wait_for(lambda: len(held(stack)) == 1, "the callback's call to be held")
        slow_since = time.monotonic()
        assert job_status(stack, placing) == JobStatus.STARTED

        stack.handler("h2")
        caller = stack.sim.call(["2", "1"], caller="+447700900999")
        connect = f"connect-{caller}-1"
        stack.wait_for(
            lambda: job_status(stack, connect) == JobStatus.FINISHED, "the caller's connect"
        )
        # Connected while the callback's placing was still waiting on Twilio, not after it.
        assert job_status(stack, placing) == JobStatus.STARTED
        assert time.monotonic() - slow_since < REQUEST_TIMEOUT_SECONDS
        stack.sim.wait_event(caller, "bridged")
    finally:
        stack.sim.http.post("/sim/holds/release", json={"drop": True}).raise_for_status()
