"""The job that places a callback's outbound call, on a virtual clock against the simulated phone
network over HTTP: a call whose calling slot is still to come is put on the agenda for that
moment (no worker waits for it), a call whose placing went unrecorded is looked up in Twilio's
Calls list and adopted, never placed twice, and an offer is never lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio
from twilio.rest import Client

from config.settings import Settings
from routing import keys
from routing.agenda import Agenda, CallbackCall
from routing.callbacks import DIALLING
from routing.clock import VirtualClock
from routing.handlers import Handlers, HandlerState
from routing.offers import Offers, Release
from routing.rules import default_rules
from routing.sweeps import SweepReport, sweep_floor
from sim.phone.app import create_app
from sim.phone.config import LineUrls, PhoneConfig
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, MAIN_LINE, make_settings
from tests.ivr.test_callback_calls import callback, offered
from tests.sim.servers import SimClient, free_port, serve
from tests.staff import Staff
from tests.twilio import TwilioClient
from workers import ratelimit
from workers.callback_calls import (
    NO_SLOT_HOLD_SECONDS,
    RECHECK_SECONDS,
    SLOT_LEAD_SECONDS,
    WATCH_SECONDS,
    claim_key,
)
from workers.callback_calls import place_callback as place
from workers.dial_intents import SETTLED_SECONDS, DialIntent, Intents, outbound_field
from workers.runtime import Runtime
from workers.telephony import REQUEST_TIMEOUT_SECONDS

NOWHERE = "http://127.0.0.1:9"  # Lifeline's webhooks are not served here: no call is answered
HANDLER = "client:h1"
RULES = default_rules()
CUTOFF = RULES.offers.offer_timeout_seconds + RULES.offers.lost_after_seconds
T = TypeVar("T")


class SimWall:
    """The sim's clock: the test's virtual clock for the times it reports (so that Twilio's
    date_created and Lifeline's intent are on one clock), real time for its waits."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def wall(self) -> float:
        return self.clock.now()

    def monotonic(self) -> float:
        return time.monotonic()


class Phone(SimClient):
    """The sim's control API, and the REST requests it received."""

    def requests(self, method: str = "POST") -> list[dict[str, Any]]:
        logged: list[dict[str, Any]] = self.http.get("/sim/requests").json()["requests"]
        return [entry for entry in logged if entry["method"] == method]

    def made(self) -> list[dict[str, Any]]:
        """The calls Twilio made through the REST API (whatever it answered)."""
        calls: list[dict[str, Any]] = self.http.get("/sim/calls").json()["calls"]
        return [call for call in calls if call["direction"] == "outbound-api"]

    def rest(self) -> Client:
        client = Client(ACCOUNT_SID, AUTH_TOKEN)
        client.api.base_url = self.base_url
        return client


@pytest.fixture
def phone(clock: VirtualClock) -> Iterator[Phone]:
    config = PhoneConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        urls=LineUrls.under(NOWHERE),
        time_scale=0.05,  # a ring of 60 simulated seconds (Twilio's default timeout) takes 3 s
        speech_words_per_second=0,
        webhook_timeout=1.0,
    )
    with serve(create_app(config, clock=SimWall(clock)), free_port()) as base_url:
        client = Phone(base_url)
        client.party(HANDLER, answer="no-answer")
        yield client
        client.close()


class Worker:
    """Runs the placing job as a worker would, on the test's clock and Redis."""

    def __init__(self, settings: Settings, clock: VirtualClock, callback_id: str) -> None:
        self.settings, self.clock, self.callback_id = settings, clock, callback_id
        self.handler, self.offer = "h1", 1
        self.outcomes: list[str] = []

    @property
    def due(self) -> CallbackCall:
        return CallbackCall(callback=self.callback_id, handler=self.handler, offer=self.offer)

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
        return await place(rt, self.callback_id, self.handler, self.offer)

    def when(self) -> float | None:
        async def when(rt: Runtime) -> float | None:
            return await Agenda(rt.redis).when(self.due)

        return self.call(when)

    def sweep_takes(self) -> bool:
        """What the agenda's sweep does every second: is this call due now?"""

        async def take(rt: Runtime) -> bool:
            return self.due in await Agenda(rt.redis).take_due(rt.clock.now())

        return self.call(take)

    def intent(self) -> DialIntent | None:
        async def get(rt: Runtime) -> DialIntent | None:
            return await Intents(rt.redis, self.callback_id).get()

        return self.call(get)

    def floor_sweep(self) -> SweepReport:
        """The floor's sweep (workers/sweeps.py, `tick`), with the placing job run for each
        offer it makes, as a worker would run the job it enqueues."""

        async def sweep(rt: Runtime) -> SweepReport:
            return await sweep_floor(rt.redis, RULES, rt.clock.now())

        report = self.call(sweep)
        for offer in report.offers:
            self.handler, self.offer = offer.handler, offer.offer
            self.outcomes.append(self.run())
        return report

    def heartbeat(self, handler_id: str) -> None:
        async def beat(rt: Runtime) -> None:
            await Handlers(rt.redis).heartbeat(handler_id, rt.clock.now())

        self.call(beat)


@pytest.fixture
def worker(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
    phone: Phone,
) -> Worker:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    settings = make_settings(redis_url, twilio_api_base_url=phone.base_url, public_base_url=NOWHERE)
    return Worker(settings, clock, callback_id)


def next_slot_in(sync_redis: redis.Redis, clock: VirtualClock, seconds: float) -> None:
    """The next calling slot is `seconds` away (other callbacks took the ones before)."""
    sync_redis.set(ratelimit.KEY, int((clock.now() + seconds) * ratelimit.MICROSECONDS))


def recorded(sync_redis: redis.Redis, worker: Worker, offer: int = 1) -> str:
    return str(sync_redis.hget(keys.callback(worker.callback_id), outbound_field(offer)) or "")


def test_a_callback_whose_slot_is_free_is_placed_at_once_and_once(
    worker: Worker, phone: Phone, sync_redis: redis.Redis
) -> None:
    assert worker.run() == "placed"
    [placed] = phone.made()
    assert (placed["to"], placed["from"]) == (HANDLER, MAIN_LINE)  # the handler first
    assert worker.when() is None  # nothing left on the agenda
    assert recorded(sync_redis, worker) == placed["sid"]
    intent = worker.intent()
    assert intent is not None
    assert (intent.sid, intent.offer, intent.to) == (placed["sid"], 1, HANDLER)

    assert worker.run() == "already placed"  # a duplicate job, or a retry
    assert len(phone.requests()) == 1


class Moving(VirtualClock):
    """A clock that moves on a little every time it is read, as the system's does."""

    def now(self) -> float:
        self.advance(0.001)
        return super().now()


def test_on_a_clock_that_moves_a_free_slot_is_still_free(
    worker: Worker, phone: Phone, clock: VirtualClock
) -> None:
    worker.clock = Moving(clock.now())
    assert worker.run() == "placed"
    assert len(phone.made()) == 1


def test_a_callback_whose_slot_is_to_come_waits_on_the_agenda_then_keeps_its_moment(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 2.5)
    slot = clock.now() + 2.5

    assert worker.run() == "waiting for a calling slot"  # and the job is over
    assert phone.requests() == []
    assert worker.when() == slot - SLOT_LEAD_SECONDS  # a sweep early
    assert not sync_redis.exists(claim_key(worker.callback_id, 1))

    clock.advance(1)
    assert not worker.sweep_takes()
    assert worker.run() == "waiting for a calling slot"  # run early: the same slot, no other
    assert worker.when() == slot - SLOT_LEAD_SECONDS
    clock.advance(0.75)
    assert worker.sweep_takes()
    assert worker.run() == "placed"  # after waiting out the rest of its moment, in the job
    [placed] = phone.requests()
    assert datetime.fromisoformat(placed["at"]).timestamp() == pytest.approx(slot, abs=0.001)
    assert clock.now() == pytest.approx(slot, abs=0.001)
    intent = worker.intent()
    assert intent is not None
    assert intent.at == pytest.approx(slot, abs=0.001)  # the time its request went
    assert worker.when() is None


def test_an_offer_released_while_waiting_for_a_calling_slot_places_no_call(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 2)
    assert worker.run() == "waiting for a calling slot"

    async def release(rt: Runtime) -> None:  # the sweep gave up on the offer meanwhile
        member = f"cb:{worker.callback_id}"
        await Offers(rt.redis).release(member, "h1", 1, clock.now(), Release.FAILED, RULES)

    worker.call(release)
    clock.advance(1)
    assert worker.sweep_takes()
    assert worker.run() == "stale"
    assert phone.requests() == []
    assert callback(sync_redis, worker.callback_id)["status"] == "pending"  # back in its place
    assert not sync_redis.exists(claim_key(worker.callback_id, 1))
    assert worker.when() is None


def test_a_call_twilio_never_made_is_placed_after_a_second_look_once_none_can_be_coming(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    placing = clock.now()
    phone.faults(rest={"status": 500, "count": 1})  # nothing made; to Lifeline, perhaps made
    assert worker.run() == "unsure"
    assert recorded(sync_redis, worker).startswith(DIALLING)  # the sweep leaves it be
    assert worker.when() == placing + RECHECK_SECONDS

    clock.advance(RECHECK_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "checking"  # the list has no such call: a second look, later
    assert worker.when() == placing + SETTLED_SECONDS  # by then no request could be making one
    clock.set(placing + SETTLED_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    [made] = phone.made()
    assert recorded(sync_redis, worker) == made["sid"]
    lists = [entry for entry in phone.requests("GET") if entry["path"].endswith("/Calls.json")]
    assert len(lists) == 4  # two looks, each at the queued calls and the started ones
    assert {entry["params"]["To"] for entry in lists} == {HANDLER}
    assert {entry["params"]["From"] for entry in lists} == {MAIN_LINE}


def test_a_call_twilio_made_but_whose_answer_was_lost_is_adopted_not_placed_again(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone.faults(
        rest={"status": 500, "count": 1, "carried_out": True},
        status_callbacks={"drop": True},
    )
    assert worker.run() == "unsure"
    [made] = phone.made()

    clock.advance(RECHECK_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "adopted"
    assert recorded(sync_redis, worker) == made["sid"]
    assert worker.when() == clock.now() + WATCH_SECONDS  # it rings: looked at until it ends
    # Its status callbacks lost, its end is seen on the next look: the handler never answered.
    phone.wait_ended(made["sid"])
    clock.advance(WATCH_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "call over"
    assert callback(sync_redis, worker.callback_id)["status"] == "pending"  # in its place again
    assert sync_redis.hget(keys.handler("h1"), "state") == HandlerState.BREAK.value  # missed
    assert worker.when() is None
    assert len(phone.requests()) == 1


def test_a_call_still_in_twilios_queue_has_no_start_time_and_is_found_by_its_status(
    worker: Worker, phone: Phone, clock: VirtualClock
) -> None:
    # One call a thousand simulated seconds: another callback's call took this moment's.
    phone.http.put("/sim/account", json={"calls_per_second": 0.001}).raise_for_status()
    phone.rest().calls.create(to="+447700900999", from_=MAIN_LINE, url=f"{NOWHERE}/x")
    phone.faults(rest={"status": 500, "count": 1, "carried_out": True})
    assert worker.run() == "unsure"
    [ours] = [call for call in phone.made() if call["to"] == HANDLER]
    assert ours["status"] == "queued"

    clock.advance(RECHECK_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "adopted"
    assert len(phone.requests()) == 2


def test_a_worker_that_died_before_its_request_leaves_a_call_that_is_placed_once(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    # What a run leaves behind if it dies between recording its intent and asking Twilio.
    intent = DialIntent(
        marker="dead", offer=1, leg="handler", to=HANDLER, caller_id=MAIN_LINE, at=clock.now()
    )

    async def died(rt: Runtime) -> None:
        assert await Intents(rt.redis, worker.callback_id).begin(intent, "h1", "") == 1
        await Agenda(rt.redis).put(worker.due, clock.now() + REQUEST_TIMEOUT_SECONDS)

    worker.call(died)
    assert recorded(sync_redis, worker) == DIALLING + "dead"
    clock.advance(REQUEST_TIMEOUT_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "checking"
    clock.set(intent.at + SETTLED_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    assert len(phone.made()) == 1


def test_a_worker_that_died_after_twilio_made_its_call_leaves_it_to_be_adopted(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    intent = DialIntent(
        marker="dead", offer=1, leg="handler", to=HANDLER, caller_id=MAIN_LINE, at=clock.now()
    )

    async def died(rt: Runtime) -> None:
        assert await Intents(rt.redis, worker.callback_id).begin(intent, "h1", "") == 1
        await Agenda(rt.redis).put(worker.due, clock.now() + REQUEST_TIMEOUT_SECONDS)

    worker.call(died)
    made = phone.rest().calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/answer")
    clock.advance(REQUEST_TIMEOUT_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "adopted"
    assert recorded(sync_redis, worker) == made.sid
    assert len(phone.made()) == 1


def test_a_rate_limited_call_is_placed_once_later_within_the_calls_per_second_limit(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone.faults(rest={"status": 429, "count": 1})  # placed nothing
    assert worker.run() == "rate limited"
    assert recorded(sync_redis, worker) == ""  # no call to wait for
    assert worker.sweep_takes()  # at once, at the next sweep...
    assert worker.run() == "placed"  # ... at the next slot, a second on, waited for in the job

    refused, accepted = phone.requests()
    assert (refused["status"], accepted["status"]) == (429, 201)
    gap = datetime.fromisoformat(accepted["at"]) - datetime.fromisoformat(refused["at"])
    assert gap.total_seconds() >= 1 / RULES.callbacks.calls_per_second
    assert len(phone.made()) == 1


def test_the_sweep_leaves_a_callback_whose_call_may_have_been_placed_and_it_rings_once(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    phone.faults(
        rest={"status": 500, "count": 1, "carried_out": True},
        status_callbacks={"drop": True},
    )
    assert worker.run() == "unsure"
    phone.faults(rest={"status": 500, "count": 1000, "method": "GET"})  # and Twilio's list down
    clock.advance(RECHECK_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "checking"

    # Long past the time an offer's outcome should have come: the sweep would offer the
    # callback again, were its call not perhaps on its way.
    clock.advance(CUTOFF + 1)
    worker.heartbeat("h1")
    report = worker.floor_sweep()
    assert (report.offers_released, report.offers) == ([], [])

    phone.http.delete("/sim/faults").raise_for_status()
    assert worker.sweep_takes()
    assert worker.run() == "adopted"
    assert len(phone.made()) == 1


def test_a_new_offer_waits_while_the_last_offers_call_is_live_and_places_it_only_after(
    worker: Worker,
    phone: Phone,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
) -> None:
    # The first call waits in Twilio's queue (another call took the account's calling slot):
    # live, it may yet ring h1.
    phone.http.put("/sim/account", json={"calls_per_second": 0.001}).raise_for_status()
    phone.rest().calls.create(to="+447700900999", from_=MAIN_LINE, url=f"{NOWHERE}/x")
    phone.faults(
        rest={"status": 500, "count": 1, "carried_out": True},
        status_callbacks={"drop": True},
    )
    worker.heartbeat("h1")
    assert worker.run() == "unsure"
    [first] = [call for call in phone.made() if call["to"] == HANDLER]

    # The handler's console goes quiet; the sweep gives the callback to the next one free.
    staff("h2", state=HandlerState.AVAILABLE)
    clock.advance(RULES.offers.heartbeat_timeout_seconds + 1)
    report = worker.floor_sweep()
    assert report.handlers_gone == ["h1"]
    assert (worker.handler, worker.offer) == ("h2", 2)
    assert worker.outcomes == ["waiting for an earlier call"]
    assert callback(sync_redis, worker.callback_id)["offers"] == "2"
    assert [call["to"] for call in phone.made()].count("client:h2") == 0
    assert worker.when() == clock.now() + WATCH_SECONDS

    clock.advance(WATCH_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "waiting for an earlier call"  # still there: still no other
    phone.rest().calls(first["sid"]).update(status="canceled")  # over, never having rung
    clock.advance(WATCH_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    assert [call["to"] for call in phone.made()].count("client:h2") == 1


def test_a_callback_with_no_slot_in_sight_goes_back_to_its_place_out_of_reach_a_while(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    next_slot_in(sync_redis, clock, 600)
    assert worker.run() == "no slot"
    assert phone.requests() == []
    held = callback(sync_redis, worker.callback_id)
    assert held["status"] == "scheduled"
    assert float(held["not_before"]) == clock.now() + NO_SLOT_HOLD_SECONDS
    assert held["attempts"] == "0"  # nobody was rung
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"
    assert worker.when() is None
    # The handler just freed is not offered it again at once, only to meet the same limit.
    worker.heartbeat("h1")
    assert worker.floor_sweep().offers == []
    # Then it is back in its place, offered, and (its slot near now) placed.
    clock.advance(NO_SLOT_HOLD_SECONDS)
    worker.heartbeat("h1")
    next_slot_in(sync_redis, clock, 0)
    report = worker.floor_sweep()
    assert [offer.member for offer in report.offers] == [keys.callback_member(worker.callback_id)]
    assert worker.outcomes == ["placed"]


def test_an_offer_waiting_for_its_calling_slot_is_not_taken_back_while_it_waits(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    wait = 100.0  # longer than an offer's timeout, within the slot's patience
    assert wait > RULES.offers.offer_timeout_seconds + RULES.offers.lost_after_seconds
    next_slot_in(sync_redis, clock, wait)
    assert worker.run() == "waiting for a calling slot"
    clock.advance(wait - 1)
    worker.heartbeat("h1")
    assert worker.floor_sweep().offers_released == []
    assert worker.sweep_takes()
    assert worker.run() == "placed"
    assert [call["to"] for call in phone.made()] == ["client:h1"]


def test_an_offer_that_twilio_keeps_refusing_with_429_is_still_taken_back_in_time(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    # Each run waits for a new slot (others took the next ones), then meets a 429: the offer's
    # time moved to its first slot only, not again at every new one.
    phone.faults(rest={"status": 429, "count": 100})
    began = clock.now()
    released = None
    while clock.now() - began < 5 * CUTOFF and released is None:
        next_slot_in(sync_redis, clock, 10)
        worker.run()
        when = worker.when()
        if when is not None and when > clock.now():
            clock.advance(when - clock.now())
        worker.heartbeat("h1")
        if worker.floor_sweep().offers_released:
            released = clock.now() - began
    # Taken back by the cutoff after its first slot (10 s away), seen at the sweep of the next
    # run (a slot later): never pushed on run after run.
    assert released is not None
    assert released <= 10 + CUTOFF + 10 + SLOT_LEAD_SECONDS + 1, released
