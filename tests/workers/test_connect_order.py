"""A caller on the line is connected before anything else: their connect goes to the front of
the calls queue, and a callback's placing (which waits on Twilio's REST API) to a queue of its
own, however many fell due at once."""

from __future__ import annotations

import asyncio

import redis

from routing.assignment import Offer
from workers.enqueue import Jobs
from workers.job_queues import JobQueue, queue_of


def waiting(connection: redis.Redis, queue: JobQueue) -> list[str]:
    return queue_of(queue, connection).get_job_ids()


def test_a_callbacks_placing_goes_on_the_callbacks_queue_and_a_callers_connect_on_calls(
    redis_url: str,
) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    try:
        callback = jobs.connect(Offer("cb:CB001-XXXXX", "h1", 1, "general"))
        live = jobs.connect(Offer("CA" + "1" * 32, "h2", 1, "general"))
        on_calls = waiting(connection, JobQueue.CALLS)
        on_callbacks = waiting(connection, JobQueue.CALLBACKS)
    finally:
        jobs.close()
        connection.close()
    assert (callback.origin, callback.id) == ("callbacks", "connect-cb-CB001-XXXXX-1")
    assert (live.origin, live.id) == ("calls", f"connect-CA{'1' * 32}-1")
    assert on_calls == [live.id]
    assert on_callbacks == [callback.id]


def test_a_callback_the_agenda_says_is_due_is_placed_from_the_callbacks_queue_once(
    redis_url: str,
) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    try:
        placed = jobs.place_callback("CB001-XXXXX", "h1", 2)
        again = jobs.place_callback("CB001-XXXXX", "h1", 2)  # still queued: not twice
        on_calls = waiting(connection, JobQueue.CALLS)
        on_callbacks = waiting(connection, JobQueue.CALLBACKS)
    finally:
        jobs.close()
        connection.close()
    assert placed is not None
    assert again is None
    assert on_calls == []
    assert on_callbacks == ["connect-cb-CB001-XXXXX-2"]


def test_a_live_callers_connect_waits_behind_none_of_fifty_callbacks_due(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    try:
        for n in range(50):
            jobs.connect(Offer(f"cb:CB{n:03d}-XXXXX", f"h{n}", 1, "general"))
        live = jobs.connect(Offer("CA" + "1" * 32, "h99", 1, "general"))
        on_calls = waiting(connection, JobQueue.CALLS)
        on_callbacks = waiting(connection, JobQueue.CALLBACKS)
    finally:
        jobs.close()
        connection.close()
    assert on_calls == [live.id]
    assert len(on_callbacks) == 50


def test_callers_connected_together_go_in_the_assigners_order_ahead_of_the_sweep(
    redis_url: str,
) -> None:
    """The assigner hands out its offers best first (an emergency before the rest): put at the
    front one by one, they would run worst first. Callbacks keep the same order on theirs."""
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection)
    callers = [Offer("CA" + str(n) * 32, f"h{n}", 1, "general") for n in (1, 2, 3)]
    callbacks = [Offer(f"cb:CB00{n}-XXXXX", f"h{n + 5}", 1, "general") for n in (1, 2)]
    try:
        jobs.queue(JobQueue.CALLS).enqueue("workers.sweeps.tick", job_id="a-sweep")  # waiting
        jobs.connect(Offer("cb:CB000-XXXXX", "h8", 1, "general"))  # waiting already
        offers = [callers[0], callbacks[0], callers[1], callbacks[1], callers[2]]
        asyncio.run(jobs.connect_all(offers))
        on_calls = waiting(connection, JobQueue.CALLS)
        on_callbacks = waiting(connection, JobQueue.CALLBACKS)
    finally:
        jobs.close()
        connection.close()
    assert on_calls[:3] == [f"connect-{offer.member}-1" for offer in callers]
    assert on_calls[3:] == ["a-sweep"]
    members = ["CB000", "CB001", "CB002"]
    assert on_callbacks == [f"connect-cb-{member}-XXXXX-1" for member in members]
