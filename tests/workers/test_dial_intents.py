"""Which call in Twilio's Calls list is an intent's own: the decision `pick` makes, on calls as the
twilio library reads them from Twilio's documented JSON and from the simulated network's list, at
the edges of the clock skew between Lifeline and Twilio and of how late Twilio may act."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import redis
import redis.asyncio
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance

from routing import keys
from routing.assignment import Offer
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.sweeps import SweepReport, sweep_floor
from sim.phone.app import create_app
from sim.phone.config import LineUrls, PhoneConfig
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, MAIN_LINE, NUMBERS, make_settings
from tests.ivr.test_callback_calls import booked
from tests.sim.servers import free_port, serve, wait_until
from tests.staff import Staff, set_state
from tests.twilio import TwilioClient
from tests.workers import test_callback_placing as placing
from tests.workers.test_callback_placing import NOWHERE, RULES, Phone, SimWall, Worker, recorded
from workers.callback_calls import RECHECK_SECONDS
from workers.callback_calls import place_callback as place
from workers.dial_intents import (
    CLOCK_SKEW_SECONDS,
    LATEST_SECONDS,
    LINE_BUSY,
    LINE_HOLD_SECONDS,
    SETTLED_SECONDS,
    DialIntent,
    DialTiming,
    Intents,
    line_digest,
    outbound_field,
    pick,
)
from workers.runtime import Runtime
from workers.telephony import REQUEST_TIMEOUT_SECONDS, CallSeen, Telephony, seen

HANDLER = "client:h1"
PATIENT = "+447700900123"
AT = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z on Lifeline's clock; Twilio's times are whole


def intent(**changes: Any) -> DialIntent:
    fields: dict[str, Any] = {
        "marker": "m1",
        "offer": 1,
        "leg": "handler",
        "to": HANDLER,
        "caller_id": MAIN_LINE,
        "at": AT,
    }
    return DialIntent(**(fields | changes))


def rfc2822(moment: float) -> str:
    return format_datetime(datetime.fromtimestamp(moment, UTC), usegmt=False).replace(
        "-0000", "+0000"
    )


def listed(
    sid: str,
    created: float,
    status: str = "ringing",
    direction: str = "outbound-api",
    started: float | None = None,
    to: str = HANDLER,
) -> CallSeen:
    """A call as Twilio's Calls list describes it (the JSON of its documentation), read by the
    twilio library as Lifeline reads it."""
    payload: dict[str, Any] = {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "parent_call_sid": None,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "to": to,
        "to_formatted": to,
        "from": MAIN_LINE,
        "from_formatted": MAIN_LINE,
        "phone_number_sid": None,
        "status": status,
        "start_time": None if started is None else rfc2822(started),
        "end_time": None,
        "duration": None,
        "price": None,
        "price_unit": "USD",
        "direction": direction,
        "answered_by": None,
        "api_version": "2010-04-01",
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        "subresource_uris": {},
    }
    version = Client(ACCOUNT_SID, AUTH_TOKEN).api.v2010
    return seen(CallInstance(version, payload, ACCOUNT_SID))


worker = placing.worker  # the placing job as a worker runs it, against `phone` below


def sid(n: int) -> str:
    return f"CA{n:032x}"


def test_twilios_whole_second_times_are_read_as_they_are_listed() -> None:
    call = listed(sid(1), AT + 3, status="queued")
    assert call.created == int(AT) + 3  # the fraction of a second is Twilio's to drop
    assert (call.started, call.direction, call.status) == (None, "outbound-api", "queued")


def test_the_call_made_for_the_intent_is_adopted() -> None:
    ours = listed(sid(1), AT + 1, started=AT + 1)
    assert pick(intent(), [ours]) == ours


def test_a_call_still_queued_by_twilio_has_no_start_time_and_is_adopted() -> None:
    ours = listed(sid(1), AT, status="queued")
    assert pick(intent(), [ours]) == ours


@pytest.mark.parametrize(
    ("created", "adopted"),
    [
        # Twilio's clock behind ours: a call made just after the intent is listed before it.
        (AT - CLOCK_SKEW_SECONDS, True),
        (int(AT) - CLOCK_SKEW_SECONDS, True),  # whole seconds: the intent's own second counts
        (int(AT) - CLOCK_SKEW_SECONDS - 1, False),  # made before the intent: someone else's
        (AT + LATEST_SECONDS + CLOCK_SKEW_SECONDS, True),  # as late as Twilio may act
        (AT + LATEST_SECONDS + CLOCK_SKEW_SECONDS + 1, False),  # later: a later intent's
    ],
)
def test_a_call_is_the_intents_only_within_the_clock_skew_of_when_it_could_have_been_made(
    created: float, adopted: bool
) -> None:
    call = listed(sid(1), created)
    assert (pick(intent(), [call]) is not None) is adopted


def test_with_a_network_that_acts_sooner_a_later_call_is_another_intents() -> None:
    timing = DialTiming(latest=5)  # TWILIO_LATEST_CALL_SECONDS, as the tests' network has it

    assert pick(intent(), [listed(sid(1), AT + 5 + CLOCK_SKEW_SECONDS)], timing=timing)
    assert pick(intent(), [listed(sid(1), AT + 6 + CLOCK_SKEW_SECONDS)], timing=timing) is None
    assert (timing.settled, timing.line_hold) == (10, 16)


def test_calls_twilio_did_not_make_through_the_rest_api_are_never_adopted() -> None:
    # A connect's <Dial> to the same handler, and a call the handler made: neither is a create.
    dial_leg = listed(sid(1), AT + 1, direction="outbound-dial")
    inbound = listed(sid(2), AT + 1, direction="inbound")
    assert pick(intent(), [dial_leg, inbound]) is None


def test_the_callbacks_earlier_calls_are_never_adopted_for_its_new_intent() -> None:
    earlier = listed(sid(1), AT, status="completed")
    assert pick(intent(earlier=(sid(1),)), [earlier]) is None


def test_a_call_to_the_same_line_recorded_for_another_callback_is_never_adopted() -> None:
    # Another callback's call to the same handler from the same line, within the skew: its SID
    # is recorded as that callback's, so this intent's own call, not yet listed, is not it.
    theirs = listed(sid(1), AT + 1, started=AT + 1)
    assert pick(intent(), [theirs], taken={sid(1)}) is None
    ours = listed(sid(2), AT + 2, status="queued")
    assert pick(intent(), [theirs, ours], taken={sid(1)}) == ours


def test_of_two_candidates_the_first_made_at_or_after_the_intent_is_adopted() -> None:
    before = listed(sid(1), AT - 2)  # within the skew, but before the intent by our clock
    first = listed(sid(2), AT + 1)
    second = listed(sid(3), AT + 4)
    assert pick(intent(), [second, before, first]) == first
    assert pick(intent(), [before]) == before


@pytest.fixture
def phone(clock: VirtualClock) -> Iterator[Phone]:
    config = PhoneConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        urls=LineUrls.under(NOWHERE),
        time_scale=0.05,
        speech_words_per_second=0,
        webhook_timeout=1.0,
    )
    with serve(create_app(config, clock=SimWall(clock)), free_port()) as base_url:
        client = Phone(base_url)
        client.party(HANDLER, answer="no-answer")
        client.party(PATIENT, answer="no-answer")
        yield client
        client.close()


def listed_by_the_sim(phone: Phone, redis_url: str, to: str, since: float) -> list[CallSeen]:
    settings = make_settings(redis_url, twilio_api_base_url=phone.base_url)
    day = datetime.fromtimestamp(since - CLOCK_SKEW_SECONDS, UTC).date()
    return asyncio.run(Telephony(settings).calls_between(to, MAIN_LINE, day))


def test_in_the_sims_calls_list_the_intents_call_is_told_from_the_line_s_others(
    phone: Phone, clock: VirtualClock, redis_url: str
) -> None:
    rest = phone.rest()
    before = rest.calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/a").sid
    clock.advance(CLOCK_SKEW_SECONDS + 2)
    mine = intent(at=clock.now(), to=HANDLER)
    clock.advance(0.5)
    theirs = rest.calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/b").sid
    rest.calls.create(to=PATIENT, from_=MAIN_LINE, url=f"{NOWHERE}/c")  # another number
    clock.advance(1)
    ours = rest.calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/d").sid
    clock.advance(LATEST_SECONDS + CLOCK_SKEW_SECONDS + 1)
    later = rest.calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/e").sid

    calls = listed_by_the_sim(phone, redis_url, HANDLER, mine.at)
    assert {call.sid for call in calls} == {before, theirs, ours, later}
    picked = pick(mine, calls, taken={theirs})
    assert picked is not None
    assert picked.sid == ours


def begun(redis_url: str, callback_id: str, intent: DialIntent, handler: str) -> int:
    async def go() -> int:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await Intents(client, callback_id).begin(intent, handler, "")
        finally:
            await client.aclose()

    return asyncio.run(go())


def recorded_sid(redis_url: str, callback_id: str, before: DialIntent, sid: str) -> frozenset[str]:
    """Records `sid` as the call made for `before`; what a look for another intent then finds
    taken on the line."""

    async def go() -> frozenset[str]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            intents = Intents(client, callback_id)
            assert await intents.update(before, before.model_copy(update={"sid": sid}), "sid")
            return await intents.taken(before)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_no_other_callback_begins_a_call_on_a_line_while_the_call_begun_there_is_unknown(
    sync_redis: redis.Redis, redis_url: str
) -> None:
    for callback_id, handler in (("cb-a", "h1"), ("cb-b", "h2")):
        sync_redis.hset(
            keys.callback(callback_id),
            mapping={"status": "reserved", "handler": handler, "offers": 1},
        )
    line = line_digest(NUMBERS, PATIENT, MAIN_LINE)
    a = intent(marker="a", to=PATIENT, leg="patient", line=line)
    assert begun(redis_url, "cb-a", a, "h1") == 1

    # Within the hold, to the same patient from the same line, another callback waits.
    for later in (1.0, LINE_HOLD_SECONDS):
        b = intent(marker="b", to=PATIENT, leg="patient", line=line, at=AT + later)
        assert begun(redis_url, "cb-b", b, "h2") == LINE_BUSY
    assert sync_redis.hget(keys.callback("cb-b"), outbound_field(1)) is None  # not dialling
    other_line = line_digest(NUMBERS, PATIENT, "+442920180111")
    assert begun(redis_url, "cb-b", intent(marker="b", line=other_line), "h2") == 1
    sync_redis.delete(keys.callback_dial("cb-b"))

    # Once a's call is known, b may place its own: a's SID is recorded as taken.
    assert recorded_sid(redis_url, "cb-a", a, sid(1)) == {sid(1)}
    b = intent(marker="b", to=PATIENT, leg="patient", line=line, at=AT + 1)
    assert begun(redis_url, "cb-b", b, "h2") == 1


def test_an_offer_whose_call_is_recorded_is_never_marked_dialling_again(
    sync_redis: redis.Redis, redis_url: str
) -> None:
    sync_redis.hset(
        keys.callback("cb-a"),
        mapping={"status": "reserved", "handler": "h1", "offers": 1, outbound_field(1): sid(1)},
    )
    line = line_digest(NUMBERS, PATIENT, MAIN_LINE)

    refused = begun(redis_url, "cb-a", intent(marker="a", line=line), "h1")

    assert refused == 0
    assert sync_redis.hget(keys.callback("cb-a"), outbound_field(1)) == sid(1)
    assert sync_redis.get(keys.callback_dial("cb-a")) is None  # no intent begun
    assert sync_redis.zrange(keys.dial_line(line), 0, -1) == []  # nor the line held
    sync_redis.hset(keys.callback("cb-a"), outbound_field(1), "dialling:earlier")
    assert begun(redis_url, "cb-a", intent(marker="a", line=line), "h1") == 1  # a mark: replaced


def test_a_line_held_by_an_unknown_call_is_free_again_once_no_call_can_be_taken_for_it(
    sync_redis: redis.Redis, redis_url: str
) -> None:
    for callback_id, handler in (("cb-a", "h1"), ("cb-b", "h2")):
        sync_redis.hset(
            keys.callback(callback_id),
            mapping={"status": "reserved", "handler": handler, "offers": 1},
        )
    line = line_digest(NUMBERS, HANDLER, MAIN_LINE)
    a = intent(marker="a", line=line)
    assert begun(redis_url, "cb-a", a, "h1") == 1
    b = intent(marker="b", line=line, at=AT + LINE_HOLD_SECONDS + 0.01)
    assert begun(redis_url, "cb-b", b, "h2") == 1
    # Neither's window reaches the other's calls: b's, listed as early as it could be, is
    # later than any a's request could make.
    earliest_of_b = listed(sid(2), int(b.at) - CLOCK_SKEW_SECONDS)
    assert pick(a, [earliest_of_b]) is None


def test_a_line_is_named_by_the_one_keyed_number_hash(
    worker: Worker, phone: Phone, sync_redis: redis.Redis
) -> None:
    """As a caller's number is (routing/number_hash.py, under NUMBER_HASH_KEY): no second
    hash of numbers, and none keyed by the Twilio auth token."""
    assert worker.run() == "placed"
    placed = worker.intent()
    assert placed is not None
    assert placed.line == NUMBERS(f"{HANDLER}|{MAIN_LINE}")
    assert sync_redis.zcard(keys.dial_line(placed.line)) == 1  # the call, recorded on its line


def test_a_call_twilio_makes_after_the_request_gave_up_is_adopted_not_placed_again(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    placing = clock.now()
    # Twilio has the request but acts on it late: the request gives up, nothing is listed yet.
    phone.faults(hold={"stage": "request", "method": "POST"}, status_callbacks={"drop": True})
    assert worker.run() == "unsure"
    assert phone.made() == []
    clock.advance(RECHECK_SECONDS)
    assert worker.run() == "checking"
    clock.set(placing + 2 * REQUEST_TIMEOUT_SECONDS + 1)  # later than a prompt Twilio would be
    assert worker.run() == "checking"  # the call may still come: no second one
    assert phone.made() == []

    clock.set(placing + REQUEST_TIMEOUT_SECONDS + LATEST_SECONDS - 1)
    phone.http.post("/sim/holds/release", json={}).raise_for_status()  # Twilio acts, late
    wait_until(lambda: len(phone.made()) == 1, "Twilio to make the call it was asked for")
    clock.set(placing + SETTLED_SECONDS)
    assert worker.sweep_takes()
    assert worker.run() == "adopted"
    [made] = phone.made()
    assert recorded(sync_redis, worker) == made["sid"]
    assert len(phone.requests()) == 1


def test_a_call_twilio_never_makes_is_placed_once_the_latest_it_could_come_has_passed(
    worker: Worker, phone: Phone, clock: VirtualClock
) -> None:
    placing = clock.now()
    phone.faults(hold={"stage": "request", "method": "POST"})
    assert worker.run() == "unsure"
    phone.http.post("/sim/holds/release", json={"drop": True}).raise_for_status()
    clock.advance(RECHECK_SECONDS)
    assert worker.run() == "checking"
    clock.set(placing + SETTLED_SECONDS - 0.5)
    assert worker.run() == "checking"
    clock.set(placing + SETTLED_SECONDS)
    assert worker.run() == "placed"  # the patient is not left without their callback
    assert len(phone.made()) == 1


def placing_for(worker: Worker, offer: Offer) -> str:
    """The placing job a worker runs for an offer the sweep made."""

    async def job(rt: Runtime) -> str:
        return await place(rt, offer.member.removeprefix("cb:"), offer.handler, offer.offer)

    return worker.call(job)


def swept(worker: Worker) -> list[tuple[Offer, str]]:
    """The floor's sweep, and the placing job run for each offer it made."""

    async def sweep(rt: Runtime) -> SweepReport:
        return await sweep_floor(rt.redis, RULES, rt.clock.now())

    return [(offer, placing_for(worker, offer)) for offer in worker.call(sweep).offers]


def at_its_slot(clock: VirtualClock, run: Callable[[], str]) -> str:
    """A placing job run again at its calling slot, as the agenda's sweep would."""
    outcome = run()
    while outcome == "waiting for a calling slot":
        clock.advance(1 / RULES.callbacks.calls_per_second)
        outcome = run()
    return outcome


def test_a_callback_never_adopts_another_callbacks_call_to_the_same_handler(
    worker: Worker,
    phone: Phone,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    first = worker.callback_id  # offered to h1, whose phone is rung first
    phone.faults(rest={"status": 500, "count": 1})  # nothing made; to Lifeline, perhaps made
    worker.heartbeat("h1")
    assert worker.run() == "unsure"
    clock.advance(1)
    second = booked(twilio, sync_redis, caller="+447700900456")  # behind the first in line

    # h1's console goes quiet: the first callback goes to h2, its first call still unknown.
    staff("h2", state=HandlerState.AVAILABLE)
    clock.advance(RULES.offers.heartbeat_timeout_seconds + 1)
    worker.heartbeat("h2")
    [(offer, outcome)] = swept(worker)
    assert (offer.member, offer.handler, outcome) == (f"cb:{first}", "h2", "checking")
    # h1 is back at once, and is offered the second callback: its call would ring h1 too.
    worker.heartbeat("h1")
    set_state(redis_url, "h1", HandlerState.AVAILABLE, clock.now())
    [(offer, outcome)] = swept(worker)
    assert (offer.member, offer.handler, outcome) == (f"cb:{second}", "h1", "line busy")
    assert [call["to"] for call in phone.made()] == []

    # The first callback finds no call of its own for h1, and rings h2; then h1 is rung once.
    clock.advance(SETTLED_SECONDS)
    for handler in ("h1", "h2"):
        worker.heartbeat(handler)
    worker.handler, worker.offer = "h2", 2
    assert at_its_slot(clock, worker.run) == "placed"
    assert at_its_slot(clock, lambda: placing_for(worker, offer)) == "placed"
    made = {call["to"]: call["sid"] for call in phone.made()}
    assert sorted(made) == [HANDLER, "client:h2"]
    assert recorded(sync_redis, worker, 2) == made["client:h2"]
    assert sync_redis.hget(keys.callback(second), outbound_field(1)) == made[HANDLER]
    assert worker.run() == "already placed"  # never taking the second's call for its first


def test_a_call_on_the_line_recorded_for_another_callback_just_before_is_not_adopted(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, redis_url: str, clock: VirtualClock
) -> None:
    # Another callback's call rang h1 a second before this one's intent, and was recorded.
    sync_redis.hset(
        keys.callback("cb-b"), mapping={"status": "reserved", "handler": "h1", "offers": 1}
    )
    theirs = intent(marker="b", at=clock.now(), line=line_digest(NUMBERS, HANDLER, MAIN_LINE))
    assert begun(redis_url, "cb-b", theirs, "h1") == 1
    made = phone.rest().calls.create(to=HANDLER, from_=MAIN_LINE, url=f"{NOWHERE}/b").sid
    recorded_sid(redis_url, "cb-b", theirs, made)
    clock.advance(1)

    phone.faults(rest={"status": 500, "count": 1})  # nothing made; to Lifeline, perhaps made
    assert worker.run() == "unsure"
    clock.advance(RECHECK_SECONDS)
    assert worker.run() == "checking"  # within the skew, but the other callback's: not ours
    clock.advance(SETTLED_SECONDS)
    assert at_its_slot(clock, worker.run) == "placed"
    ours = recorded(sync_redis, worker)
    assert ours != made
    assert sorted(call["sid"] for call in phone.made()) == sorted([made, ours])
