"""Booking an appointment from the handler console, in-process against the clinical stub over
real HTTP: free slots of the service the case needs, one booked while the caller is on the line,
"booking unavailable" when the system does not answer, none while degraded, a slot taken
meanwhile answered with others, a slot chosen by one handler never chosen by another, and
"appointment booked" only with a booked slot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2 as httpx
import pytest
import redis
import redis.asyncio

from config.settings import Settings
from console.tokens import Role
from routing import keys
from routing.bookings import Bookings
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.mode import Mode
from tests.conftest import CALLER, MAIN_LINE, make_settings
from tests.console.web.conftest import People, signed_in
from tests.console.web.people import BASE, Person
from tests.ivr.test_call_flow import to_queue
from tests.sim.clinical.stub import StubControl, booking, running_stub, slot
from tests.staff import Staff, set_state
from tests.twilio import Call, TwilioClient
from tests.workers.test_clinical_bookings import run_clinical_worker
from workers.enqueue import Jobs
from workers.job_queues import JobQueue, queue_of

OTHER_CALLER = "+447700900456"
DENTAL_0900 = slot("dental-0900", "dental", "2026-01-01T09:00:00Z", "2026-01-01T09:15:00Z")
DENTAL_0930 = slot("dental-0930", "dental", "2026-01-01T09:30:00Z", "2026-01-01T09:45:00Z")
URGENT_0900 = slot("urgent-0900", "urgent-care", "2026-01-01T09:00:00Z", "2026-01-01T09:20:00Z")
GONE = slot("dental-yesterday", "dental", "2025-12-31T09:00:00Z", "2025-12-31T09:15:00Z")
AT_0900 = "Thu 1 Jan, 09:00 to 09:15"  # London is on UTC in January
AT_0930 = "Thu 1 Jan, 09:30 to 09:45"
UNAVAILABLE = "Booking unavailable: the clinical system did not answer."
NOT_BOOKED = (
    "book an appointment for this case in the console before wrapping up as "
    "&#34;appointment booked&#34;"
)


@pytest.fixture(scope="module")
def _stub_server() -> Iterator[StubControl]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def stub(_stub_server: StubControl) -> StubControl:
    _stub_server.reset()
    _stub_server.set_slots(DENTAL_0930, URGENT_0900, GONE, DENTAL_0900)
    return _stub_server


@pytest.fixture
def settings(redis_url: str, stub: StubControl) -> Settings:
    """The app's clinical system is the stub (the consoles search and book there)."""
    return make_settings(redis_url, clinical_fhir_base_url=stub.fhir_base_url)


def on_a_call(
    twilio: TwilioClient, redis_url: str, clock: VirtualClock, handler: str, caller: str = CALLER
) -> Call:
    """A caller with a dental problem, routed to `handler` (free), who has answered."""
    call = twilio.call(caller, MAIN_LINE)
    to_queue(call, "2", "3")
    set_state(redis_url, handler, HandlerState.BUSY, clock.now())
    return call


def searched(
    handler_person: Person, staff: Staff, twilio: TwilioClient, redis_url: str, clock: VirtualClock
) -> Call:
    """h1 on a call with a caller with a dental problem, the free slots searched for."""
    staff("h1", state=HandlerState.AVAILABLE)
    call = on_a_call(twilio, redis_url, clock, "h1")
    handler_person.post("/console/handler/booking/search")
    return call


def booking_part(page: str) -> str:
    """The booking part of the handler's call, as shown."""
    assert 'id="booking"' in page, page
    return page.split('id="booking"')[1].split("</section>")[0]


def state(sync_redis: redis.Redis, handler: str) -> str:
    return str(sync_redis.hget(keys.handler(handler), "state"))


def clinical_jobs(redis_url: str) -> list[dict[str, object]]:
    """The cases waiting to be sent to the clinical system, as their jobs carry them."""
    connection = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(job.args[0]) for job in queue_of(JobQueue.CLINICAL, connection).jobs]
    finally:
        connection.close()


def test_a_handler_books_a_free_slot_for_the_case_and_the_wrap_up_carries_it(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
    tmp_path: Path,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = on_a_call(twilio, redis_url, clock, "h1")
    page = handler_person.get("/console/handler").text
    assert 'id="find-slots">Find free appointments</button>' in page

    found = handler_person.post("/console/handler/booking/search")

    offered = booking_part(found.text)
    assert "Free dental appointments, earliest first" in offered
    assert offered.index(AT_0900) < offered.index(AT_0930)
    assert "09:20" not in offered  # an urgent-care slot: not what this caller needs
    assert "31 Dec" not in offered  # gone by
    booked = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    assert found.url.path == booked.url.path == "/console/handler"
    shown = booking_part(booked.text)
    assert f"<strong>Booked:</strong> {AT_0930}, dental appointment" in shown
    assert 'id="find-slots"' not in shown
    [held] = [s for s in stub.slots() if s["id"] == "dental-0930"]
    assert held["status"] == "busy"
    [appointment] = stub.resources("Appointment")
    assert held["appointment"] == f"Appointment/{appointment['id']}"

    call.status("completed")
    wrapping = handler_person.get("/console/handler").text
    assert state(sync_redis, "h1") == "wrap_up"
    assert f"Appointment booked ({AT_0930})</label>" in wrapping
    assert 'value="appointment_booked" disabled' not in wrapping
    done = handler_person.post(
        "/console/handler/wrap-up",
        {"outcome": "appointment_booked", "notes": "dental pain, booked 09:30"},
    )

    assert "Wrap-up recorded (appointment booked). You are available for calls." in done.text
    [case] = clinical_jobs(redis_url)
    assert case["appointment"] == {
        "slot": "Slot/dental-0930",
        "start": "2026-01-01T09:30:00Z",
        "end": "2026-01-01T09:45:00Z",
    }
    run_clinical_worker(redis_url, stub, tmp_path)
    [wrapped] = [r for r in stub.received() if r["case_id"].endswith("/wrap-up")]
    assert wrapped["outcome"] == "created"  # and so it passed the R4 schema
    sent = [e["resource"] for e in wrapped["bundle"]["entry"]]
    assert [r["slot"] for r in sent if r["resourceType"] == "Appointment"] == [
        [{"reference": "Slot/dental-0930"}]
    ]
    assert len(stub.resources("Appointment")) == 1  # the one booked, found again


def test_appointment_booked_cannot_be_chosen_without_a_booked_slot(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    sync_redis: redis.Redis,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = on_a_call(twilio, redis_url, clock, "h1")
    handler_person.post("/console/handler/booking/search")  # slots offered, none booked
    call.status("completed")

    wrapping = handler_person.get("/console/handler").text
    refused = handler_person.post("/console/handler/wrap-up", {"outcome": "appointment_booked"})

    assert 'value="appointment_booked" disabled aria-describedby="booked-hint"' in wrapping
    assert refused.status_code == 409
    assert NOT_BOOKED in refused.text
    assert state(sync_redis, "h1") == "wrap_up"
    assert clinical_jobs(redis_url) == []
    assert sync_redis.hget(keys.call(call.sid), "wrap_up_outcome") is None


@pytest.mark.parametrize("fault", ["down", "slow", "errors"])
def test_booking_is_unavailable_the_moment_the_clinical_system_does_not_answer(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    fault: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, redis_url, clock, "h1")
    stub.fault(fault, slow_seconds=10)  # past the console's short timeout

    failed = booking_part(handler_person.post("/console/handler/booking/search").text)

    assert UNAVAILABLE in failed
    assert 'name="slot"' not in failed
    assert 'id="find-slots">Search again</button>' in failed
    stub.fault("up")
    again = booking_part(handler_person.post("/console/handler/booking/search").text)
    assert UNAVAILABLE not in again
    assert AT_0930 in again


def test_degraded_mode_offers_no_booking_and_says_why(
    handler_person: Person,
    supervisor: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    sync_redis: redis.Redis,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = on_a_call(twilio, redis_url, clock, "h1")
    supervisor.post("/console/mode", {"mode": Mode.DEGRADED.value, "reason": "clinical down"})

    shown = booking_part(handler_person.get("/console/handler").text)
    search = handler_person.post("/console/handler/booking/search")
    choose = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})

    assert "No booking while the clinical system is down" in shown
    assert "booked by a person once it is back" in shown
    assert "<form" not in shown
    for refused in (search, choose):
        assert refused.status_code == 409
        assert "bookings are not offered while the clinical system is down" in refused.text
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert not sync_redis.exists(keys.booking(case_id))  # nothing was searched


def test_a_slot_taken_meanwhile_is_answered_clearly_and_another_offered(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
) -> None:
    searched(handler_person, staff, twilio, redis_url, clock)
    # Someone else, outside Lifeline, books 09:30 in the clinical system.
    taken = booking(
        "ELSEW-HERE1/booking", "Slot/dental-0930", "2026-01-01T09:30:00Z", "2026-01-01T09:45:00Z"
    )
    assert stub.post_transaction(taken).status_code == 200

    answer = booking_part(
        handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"}).text
    )

    assert "That appointment was booked by someone else in the clinical system meanwhile." in answer
    assert "Choose another." in answer
    assert AT_0930 not in answer
    assert 'name="slot" value="Slot/dental-0900"' in answer
    booked = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0900"})
    assert f"<strong>Booked:</strong> {AT_0900}" in booked.text


def test_a_slot_chosen_for_one_case_is_never_chosen_for_another(
    people: People,
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
) -> None:
    second = signed_in(people, redis_url, "hal", Role.HANDLER, handler="h2")
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, redis_url, clock, "h1")
    staff("h2", state=HandlerState.AVAILABLE)
    on_a_call(twilio, redis_url, clock, "h2", OTHER_CALLER)
    for handler in (handler_person, second):
        assert AT_0930 in booking_part(handler.post("/console/handler/booking/search").text)
    # h1 chooses 09:30 while the clinical system is down: held for h1's case, not yet booked.
    stub.fault("down")
    unsure = booking_part(
        handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"}).text
    )
    assert "may or may not be booked" in unsure
    stub.fault("up")

    # h2's page still offers 09:30: choosing it is refused by Lifeline, before the clinical system.
    refused = booking_part(
        second.post("/console/handler/booking", {"slot": "Slot/dental-0930"}).text
    )
    again = booking_part(second.post("/console/handler/booking/search").text)

    assert "That appointment was chosen for another caller a moment ago. Choose another." in refused
    assert AT_0930 not in refused.split("Choose another.")[1]
    assert AT_0930 not in again  # free in the clinical system, but held here for h1's case
    assert AT_0900 in again
    assert [r for r in stub.received() if "/booking" in r["case_id"]] == []
    retried = booking_part(
        handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"}).text
    )
    assert f"<strong>Booked:</strong> {AT_0930}" in retried
    assert [a["slot"] for a in stub.resources("Appointment")] == [["Slot/dental-0930"]]


def test_a_booking_whose_answer_was_lost_can_only_be_tried_again_and_is_booked_once(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
) -> None:
    searched(handler_person, staff, twilio, redis_url, clock)
    stub.fault("slow", slow_seconds=10)  # stored, but answered too late

    unsure = booking_part(
        handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"}).text
    )
    stub.fault("up")
    other = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0900"})
    search = handler_person.post("/console/handler/booking/search")

    assert "may or may not be booked. Try booking it again." in unsure
    assert f'id="book-again">Try booking {AT_0930} again</button>' in unsure
    assert 'id="find-slots"' not in unsure
    assert other.status_code == search.status_code == 409
    retried = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    assert f"<strong>Booked:</strong> {AT_0930}" in retried.text
    assert len(stub.resources("Appointment")) == 1


def posted_together(
    person: Person, first: tuple[str, dict[str, str]], second: tuple[str, dict[str, str]]
) -> tuple[httpx.Response, httpx.Response]:
    """Two form posts by one handler, the second 0.3 s after the first, while the first is still
    waiting on the clinical system (as a handler clicking again does); each answer as it came."""
    answers: dict[int, httpx.Response] = {}

    def post(index: int, path: str, data: dict[str, str]) -> None:
        form = {**data, "csrf_token": person.csrf}
        answers[index] = person.client.post(f"{BASE}{path}", data=form, follow_redirects=False)

    threads = [threading.Thread(target=post, args=(0, *first))]
    threads[0].start()
    time.sleep(0.3)
    threads.append(threading.Thread(target=post, args=(1, *second)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(answers) == 2, answers
    return answers[0], answers[1]


def test_a_search_made_while_a_booking_is_in_flight_never_overwrites_it(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    stub.fault("slow", slow_seconds=1)  # each answer a second late: within the booking timeout

    book, search = posted_together(
        handler_person,
        ("/console/handler/booking", {"slot": "Slot/dental-0930"}),
        ("/console/handler/booking/search", {}),
    )
    stub.fault("up")

    assert book.status_code == 303
    assert search.status_code == 409
    assert "An appointment is being booked for this case" in search.text
    shown = booking_part(handler_person.get("/console/handler").text)
    assert f"<strong>Booked:</strong> {AT_0930}, dental appointment" in shown
    assert len(stub.resources("Appointment")) == 1
    call.status("completed")
    done = handler_person.post("/console/handler/wrap-up", {"outcome": "appointment_booked"})
    assert "Wrap-up recorded (appointment booked)." in done.text
    assert state(sync_redis, "h1") == "available"


def test_a_second_click_on_book_while_the_first_is_in_flight_sends_nothing(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
) -> None:
    searched(handler_person, staff, twilio, redis_url, clock)
    stub.fault("slow", slow_seconds=1)
    click = ("/console/handler/booking", {"slot": "Slot/dental-0930"})

    first, second = posted_together(handler_person, click, click)
    stub.fault("up")

    assert first.status_code == 303
    assert second.status_code == 409
    assert "That appointment is being booked already" in second.text
    assert len([r for r in stub.received() if r["case_id"].endswith("/booking")]) == 1
    shown = booking_part(handler_person.get("/console/handler").text)
    assert f"<strong>Booked:</strong> {AT_0930}, dental appointment" in shown


def confirmations_due(redis_url: str) -> list[str]:
    """A minute passes for the bookings' look-ups scheduled in the clinical queue (RQ's
    scheduler enqueues those due); their ids."""
    connection = redis.Redis.from_url(redis_url)
    try:
        registry = queue_of(JobQueue.CLINICAL, connection).scheduled_job_registry
        due = [job_id for job_id in registry.get_job_ids() if job_id.startswith("confirm-")]
        if due:
            connection.zadd(registry.key, dict.fromkeys(due, 0))
        return due
    finally:
        connection.close()


def booking_of(sync_redis: redis.Redis, call: Call) -> dict[str, str]:
    """The case's booking as stored, with the holder of its chosen slot."""
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    stored = {str(k): str(v) for k, v in sync_redis.hgetall(keys.booking(case_id)).items()}
    state = json.loads(stored["state"])
    return {
        "case_id": case_id,
        "status": state["status"],
        "message": state["message"],
        "chosen": stored.get("chosen", ""),
        "holder": str(sync_redis.get(keys.slot_hold("Slot/dental-0930")) or ""),
    }


@pytest.mark.parametrize("stored", [True, False], ids=["booked-late", "never-booked"])
def test_a_booking_whose_answer_was_lost_is_settled_after_the_call_without_the_handler(
    stored: bool,
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
    tmp_path: Path,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    # Stored but answered too late, or never reached: the console cannot tell which.
    stub.fault("slow" if stored else "down", slow_seconds=10)
    unsure = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    stub.fault("up")
    assert "may or may not be booked" in booking_part(unsure.text)

    call.status("completed")  # the caller has gone; the handler never tries again
    refused = handler_person.post("/console/handler/wrap-up", {"outcome": "appointment_booked"})
    silent = handler_person.post("/console/handler/wrap-up", {"outcome": "advice_given"})
    done = handler_person.post("/console/handler/wrap-up", {"outcome": "referred"})
    assert refused.status_code == silent.status_code == 409
    assert "waits for the clinical system to confirm it" in refused.text
    assert "An appointment may have been booked for this case" in silent.text  # none would know
    assert "Wrap-up recorded (referred)" in done.text
    assert booking_of(sync_redis, call)["holder"]  # held for the case while in doubt

    assert len(confirmations_due(redis_url)) == 1
    run_clinical_worker(redis_url, stub, tmp_path)
    if not stored:
        # None found: asked once more, a minute on, before it is said that none was made.
        assert booking_of(sync_redis, call)["status"] == "unconfirmed"
        assert len(confirmations_due(redis_url)) == 1
        run_clinical_worker(redis_url, stub, tmp_path)

    settled = booking_of(sync_redis, call)
    if stored:
        assert len(stub.resources("Appointment")) == 1
        assert settled["status"] == "booked"
        assert (settled["chosen"], settled["holder"]) == ("Slot/dental-0930", settled["case_id"])
    else:
        assert stub.resources("Appointment") == []  # looked up, never booked from the worker
        assert settled["status"] == "unavailable"
        assert "no appointment for this case" in settled["message"]
        assert (settled["chosen"], settled["holder"]) == ("", "")  # free for other callers


def test_a_booking_sent_by_a_console_that_died_is_not_left_in_flight(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
    tmp_path: Path,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    case_id = booking_of(sync_redis, call)["case_id"]

    # As a console does before it sends the booking: chosen, in flight, its look-up scheduled;
    # then it dies, and no outcome is ever saved.
    async def choose_and_die() -> str:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            bookings = Bookings(client)
            version = (await bookings.read(case_id)).version
            verdict, at = await bookings.choose(case_id, "Slot/dental-0930", version, clock.now())
            assert verdict == "ok"
            return at
        finally:
            await client.aclose()

    at = anyio.run(choose_and_die)
    connection = redis.Redis.from_url(redis_url)
    Jobs(connection).confirm_booking(case_id, at)
    connection.close()

    clock.advance(31)  # its booking given up
    search = handler_person.post("/console/handler/booking/search")
    assert search.status_code == 200
    shown = booking_part(search.text)
    assert "may or may not be booked" in shown
    assert f'id="book-again">Try booking {AT_0930} again</button>' in shown

    for _ in range(2):  # none found, twice
        assert len(confirmations_due(redis_url)) == 1
        run_clinical_worker(redis_url, stub, tmp_path)
    settled = booking_of(sync_redis, call)
    assert (settled["status"], settled["chosen"], settled["holder"]) == ("unavailable", "", "")
    again = handler_person.post("/console/handler/booking/search")
    assert AT_0930 in booking_part(again.text)
    booked = handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    assert f"<strong>Booked:</strong> {AT_0930}" in booked.text
    assert len(stub.resources("Appointment")) == 1


def test_a_booked_appointment_is_never_left_out_of_the_wrap_up(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    call.status("completed")

    referred = handler_person.post("/console/handler/wrap-up", {"outcome": "referred"})
    ambulance = handler_person.post(
        "/console/handler/wrap-up", {"outcome": "ambulance_requested", "notes": "collapsed"}
    )

    assert referred.status_code == 409
    assert f"An appointment is booked for this case ({AT_0930})" in referred.text
    assert "Wrap-up recorded (ambulance requested)" in ambulance.text  # never refused
    [case] = clinical_jobs(redis_url)
    assert case["kind"] == "ambulance"
    assert case["handler_notes"] == (
        f"collapsed\n\nAn appointment is booked for this case: {AT_0930} (Slot/dental-0930)."
    )
    assert state(sync_redis, "h1") == "available"


def test_a_wrap_up_while_a_booking_waits_to_be_confirmed_says_so_to_the_clinical_system(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    stub.fault("down")
    handler_person.post("/console/handler/booking", {"slot": "Slot/dental-0930"})
    stub.fault("up")
    call.status("completed")

    done = handler_person.post("/console/handler/wrap-up", {"outcome": "referred"})

    assert "Wrap-up recorded (referred)" in done.text
    [case] = clinical_jobs(redis_url)
    assert case["handler_notes"] == (
        f"An appointment may have been booked for this case: {AT_0930} (Slot/dental-0930); "
        "its booking was not confirmed."
    )


def test_an_unreadable_booking_never_stands_between_a_caller_and_an_ambulance(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    stub: StubControl,
    sync_redis: redis.Redis,
) -> None:
    call = searched(handler_person, staff, twilio, redis_url, clock)
    case_id = booking_of(sync_redis, call)["case_id"]
    sync_redis.hset(keys.booking(case_id), "state", '{"written by": "a future version"}')
    call.status("completed")

    done = handler_person.post("/console/handler/wrap-up", {"outcome": "ambulance_requested"})

    assert "Wrap-up recorded (ambulance requested)" in done.text
    [case] = clinical_jobs(redis_url)
    assert case["kind"] == "ambulance"
