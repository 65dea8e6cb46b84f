"""A caller on the line is connected before callbacks waiting to be placed, however many fell
due at once: their connect goes to the front of the calls queue."""

from __future__ import annotations

import redis

from routing.assignment import Offer
from workers.enqueue import Jobs
from workers.queues import JobQueue, queue_of


def test_a_live_callers_connect_goes_before_fifty_callbacks_due(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    try:
        for n in range(50):
            jobs.connect(Offer(f"cb:CB{n:03d}-XXXXX", f"h{n}", 1, "general"))
        live = jobs.connect(Offer("CA" + "1" * 32, "h99", 1, "general"))
        waiting = queue_of(JobQueue.CALLS, connection).get_job_ids()
    finally:
        jobs.close()
        connection.close()
    assert waiting[0] == live.id
    assert len(waiting) == 51
