"""The job that places a callback's outbound call, on a virtual clock against a Twilio stand-in:
a call whose calling slot is still to come is put on the agenda for that moment (no worker waits
for it), a call is never placed twice, and an offer is never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lifeline.settings import Settings
from routing import keys
from routing.agenda import Agenda, CallbackCall
from routing.clock import VirtualClock
from routing.offers import Offers, Release
from routing.rules import default_rules
from tests.conftest import make_settings
from tests.ivr.test_callback_calls import callback, offered
from tests.sim.servers import free_port, serve
from tests.staff import Staff
from tests.twilio import TwilioClient
from workers import ratelimit
from workers.callback_calls import INITIATED_WAIT_SECONDS, claim_key, outbound_field
from workers.callback_calls import place_callback as place
from workers.runtime import Runtime


class FakeTwilio:
    """Twilio's `POST .../Calls.json`, answering as told (201 unless a status is queued up)."""

    def __init__(self) -> None:
        self.placed: list[dict[str, str]] = []
        self.answers: list[int] = []

    async def create(self, request: Request) -> JSONResponse:
        status = self.answers.pop(0) if self.answers else 201
        if status != 201:
            return JSONResponse({"code": 20000 + status, "status": status}, status_code=status)
        self.placed.append({key: str(value) for key, value in (await request.form()).items()})
        return JSONResponse({"sid": f"CA{len(self.placed):032x}", "status": "queued"}, 201)

    def asgi(self) -> Starlette:
        path = "/2010-04-01/Accounts/{account}/Calls.json"
        return Starlette(routes=[Route(path, self.create, methods=["POST"])])


@pytest.fixture
def phone() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    with serve(fake.asgi(), free_port()) as base_url:
        yield fake, base_url


T = TypeVar("T")


class Worker:
    """Runs the placing job as a worker would, on the test's clock and Redis."""

    def __init__(self, settings: Settings, clock: VirtualClock, callback_id: str) -> None:
        self.settings, self.clock, self.callback_id = settings, clock, callback_id
        self.due = CallbackCall(callback=callback_id, handler="h1", offer=1)

    def call(self, job: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
        async def go() -> T:
            client = redis.asyncio.Redis.from_url(
                str(self.settings.redis_url), decode_responses=True
            )
            try:
                return await job(Runtime(settings=self.settings, redis=client, clock=self.clock))
            finally:
                await client.aclose()

        return asyncio.run(go())

    def run(self) -> str:
        """The job, once."""
        return self.call(self.place)

    async def place(self, rt: Runtime) -> str:
        return await place(rt, self.callback_id, "h1", 1)

    def when(self) -> float | None:
        async def when(rt: Runtime) -> float | None:
            return await Agenda(rt.redis).when(self.due)

        return self.call(when)

    def sweep_takes(self) -> bool:
        """What the sweep does every second: is this call due now?"""

        async def take(rt: Runtime) -> bool:
            return self.due in await Agenda(rt.redis).take_due(rt.clock.now())

        return self.call(take)


@pytest.fixture
def worker(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
    phone: tuple[FakeTwilio, str],
) -> Worker:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    settings = make_settings(redis_url, twilio_api_base_url=phone[1])
    return Worker(settings, clock, callback_id)


def next_slot_in(sync_redis: redis.Redis, clock: VirtualClock, seconds: float) -> None:
    """The next calling slot is `seconds` away (other callbacks took the ones before)."""
    sync_redis.set(ratelimit.KEY, int((clock.now() + seconds) * ratelimit.MICROSECONDS))


def test_a_callback_whose_slot_is_free_is_placed_at_once_and_once(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis
) -> None:
    assert worker.run() == "placed"
    [placed] = phone[0].placed
    assert placed["To"] == "client:h1"  # the handler first, by the default rules
    assert worker.when() is None  # nothing left on the agenda
    assert sync_redis.hget(keys.callback(worker.callback_id), outbound_field(1))

    assert worker.run() == "already placed"  # a duplicate job, or a retry
    assert len(phone[0].placed) == 1


class Moving(VirtualClock):
    """A clock that moves on a little every time it is read, as the system's does."""

    def now(self) -> float:
        self.advance(0.001)
        return super().now()


def test_on_a_clock_that_moves_a_free_slot_is_still_free(
    worker: Worker, phone: tuple[FakeTwilio, str], clock: VirtualClock
) -> None:
    worker.clock = Moving(clock.now())
    assert worker.run() == "placed"
    assert len(phone[0].placed) == 1


def test_a_callback_whose_slot_is_to_come_waits_on_the_agenda_not_in_a_worker(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 1.5)
    slot = clock.now() + 1.5

    assert worker.run() == "waiting for a calling slot"  # and the job is over
    assert phone[0].placed == []
    assert worker.when() == slot
    assert not sync_redis.exists(claim_key(worker.callback_id, 1))

    clock.advance(1)
    assert not worker.sweep_takes()
    assert worker.run() == "waiting for a calling slot"  # run early: the same slot, no other
    assert worker.when() == slot
    clock.advance(0.5)
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    assert len(phone[0].placed) == 1
    assert worker.when() is None


def test_an_offer_released_while_waiting_for_a_calling_slot_places_no_call(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 1)
    assert worker.run() == "waiting for a calling slot"

    async def release(rt: Runtime) -> None:  # the sweep gave up on the offer meanwhile
        member = f"cb:{worker.callback_id}"
        await Offers(rt.redis).release(
            member, "h1", 1, clock.now(), Release.FAILED, default_rules()
        )

    worker.call(release)
    clock.advance(1)
    assert worker.sweep_takes()
    assert worker.run() == "stale"
    assert phone[0].placed == []
    assert callback(sync_redis, worker.callback_id)["status"] == "pending"  # back in its place
    assert not sync_redis.exists(claim_key(worker.callback_id, 1))
    assert worker.when() is None


def test_a_call_twilio_may_have_placed_is_placed_again_only_if_it_never_started(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone[0].answers = [500]  # Twilio's answer lost: the call may or may not exist
    assert worker.run() == "unsure"
    assert worker.when() == clock.now() + INITIATED_WAIT_SECONDS

    clock.advance(INITIATED_WAIT_SECONDS / 2)
    assert worker.run() == "placing"  # a retry too soon: still waiting to hear from Twilio
    assert phone[0].placed == []
    clock.advance(INITIATED_WAIT_SECONDS / 2)
    assert worker.sweep_takes()
    assert worker.run() == "placed"  # no `initiated` came: it was never placed
    assert len(phone[0].placed) == 1


def test_a_call_twilio_did_place_is_not_placed_again(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone[0].answers = [500]
    assert worker.run() == "unsure"
    # Twilio's `initiated` status callback records the call (ivr/callback_calls.py).
    sync_redis.hset(keys.callback(worker.callback_id), outbound_field(1), "CA" + "f" * 32)
    clock.advance(INITIATED_WAIT_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "already placed"
    assert phone[0].placed == []
    assert worker.when() is None


def test_a_worker_that_died_while_placing_leaves_the_call_to_be_checked_on(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    # What a run leaves behind if it dies between claiming the call and hearing from Twilio.
    sync_redis.set(claim_key(worker.callback_id, 1), repr(clock.now()))

    async def watch(rt: Runtime) -> None:
        await Agenda(rt.redis).put(worker.due, clock.now() + INITIATED_WAIT_SECONDS)

    worker.call(watch)
    clock.advance(INITIATED_WAIT_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    assert len(phone[0].placed) == 1


def test_a_rate_limited_call_is_tried_again_at_a_new_slot(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone[0].answers = [429]  # placed nothing
    assert worker.run() == "rate limited"
    assert not sync_redis.exists(claim_key(worker.callback_id, 1))
    assert worker.sweep_takes()  # at once, at the next sweep...
    assert worker.run() == "waiting for a calling slot"  # ... for the next slot, a second on
    assert worker.when() == clock.now() + 1
    clock.advance(1)
    assert worker.run() == "placed"
    assert len(phone[0].placed) == 1


def test_a_callback_with_no_slot_in_sight_goes_back_to_its_place(
    worker: Worker, phone: tuple[FakeTwilio, str], sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 600)
    assert worker.run() == "no slot"
    assert phone[0].placed == []
    assert callback(sync_redis, worker.callback_id)["status"] == "pending"
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"
    assert worker.when() is None
