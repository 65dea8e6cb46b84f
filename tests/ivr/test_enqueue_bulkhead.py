"""The webhooks' job enqueues wait on no thread pool that other work can fill: with the event
loop's default pool (where `asyncio.to_thread` runs, and sign-ins hash passwords) full of
someone else's work, an emergency still reaches the dispatch line and every job is queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from routing import keys
from routing.handlers import HandlerState
from tests.conftest import CALLER, DISPATCH, MAIN_LINE
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_hold_and_callbacks import queued_medical, take_callback
from tests.staff import Staff
from tests.twilio import TwilioClient

DEFAULT_POOL_MOST = 32  # asyncio's default executor: min(32, CPUs + 4) threads


@pytest.fixture
def shared_pool_full(twilio: TwilioClient) -> Iterator[None]:
    """More blocking work in the app's default thread pool than it has threads, until the test
    ends: whatever waits on that pool waits for the test."""
    release = threading.Event()

    async def fill() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(DEFAULT_POOL_MOST + 8):
            loop.run_in_executor(None, release.wait)

    portal = twilio.client.portal
    assert portal is not None
    portal.call(fill)
    try:
        yield
    finally:
        release.set()


def job_ids(redis_url: str, queue: str) -> list[str]:
    connection = redis.Redis.from_url(redis_url)
    try:
        return Queue(queue, connection=connection).get_job_ids()
    finally:
        connection.close()


def test_an_emergency_with_the_shared_pool_full_is_dialled_through_and_its_case_queued(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, shared_pool_full: None
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "1")  # nobody on duty: the dispatch line at once

    assert dial.verbs == ["Say", "Dial"]
    assert dial.first("Number").text == DISPATCH
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert job_ids(redis_url, "clinical") == [f"case-{case_id}-ambulance-opened"]


def test_a_callback_booked_with_the_shared_pool_full_is_booked_and_its_case_queued(
    twilio: TwilioClient, sync_redis: redis.Redis, redis_url: str, shared_pool_full: None
) -> None:
    call, enqueue = queued_medical(twilio)
    confirm = take_callback(call, enqueue)
    booked = call.press(confirm, "1")

    assert booked.verbs == ["Say", "Hangup"]
    assert "call you back" in booked.text
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert job_ids(redis_url, "clinical") == [f"case-{case_id}-referral-opened"]


def test_a_caller_queued_with_a_handler_free_and_the_shared_pool_full_is_offered_at_once(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    redis_url: str,
    staff: Staff,
    shared_pool_full: None,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, enqueue = queued_medical(twilio)

    assert enqueue.first("Enqueue").text == "general"
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    [job_id] = job_ids(redis_url, "calls")
    assert job_id.startswith(f"connect-{call.sid}-")
