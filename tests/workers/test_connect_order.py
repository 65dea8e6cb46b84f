"""A caller on the line is connected before callbacks waiting to be placed, however many fell
due at once: their connect goes to the front of the calls queue."""

from __future__ import annotations

import asyncio

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


def test_callers_connected_together_go_in_the_assigners_order_ahead_of_callbacks(
    redis_url: str,
) -> None:
    """The assigner hands out its offers best first (an emergency before the rest): put at the
    front one by one, they would run worst first."""
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    callers = [Offer("CA" + str(n) * 32, f"h{n}", 1, "general") for n in (1, 2, 3)]
    callback = Offer("cb:CB001-XXXXX", "h9", 1, "general")
    try:
        jobs.connect(Offer("cb:CB000-XXXXX", "h8", 1, "general"))  # waiting already
        asyncio.run(jobs.connect_all([callers[0], callback, callers[1], callers[2]]))
        waiting = queue_of(JobQueue.CALLS, connection).get_job_ids()
    finally:
        jobs.close()
        connection.close()
    members = [job_id.split("-")[1] for job_id in waiting]
    assert members == [offer.member for offer in callers] + ["cb", "cb"]
    assert waiting[-1].startswith("connect-cb-CB001")
