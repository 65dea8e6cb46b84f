"""Bookings all the way to the clinical system: free slots searched and one booked by the
adapter (as the console does, within its short timeout), "appointment booked" refused without
one, and a booking carrying its slot sent by a real RQ worker to the stub over HTTP (which checks
every Bundle against the FHIR R4 schema)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError
from rq import Queue

from console.tokens import Role
from routing import keys
from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from routing.handlers import HandlerState
from routing.models import Reason
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, DISPATCH, MAIN_LINE, PUBLIC_BASE_URL
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.sim.clinical.stub import StubControl, slot
from tests.staff import Staff
from tests.twilio import Call, TwilioClient
from workers.clinical import (
    BookedElsewhere,
    ClinicalSystem,
    ClinicalUnavailable,
    Outcome,
    SlotTaken,
)
from workers.enqueue import Jobs
from workers.fhir import booking_bundle_json, bundle_json

pytestmark = pytest.mark.anyio

BIN = Path(sys.executable).parent
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SLOT = BookedSlot(
    slot="Slot/ut-1430",
    start=datetime(2026, 1, 1, 14, 30, tzinfo=UTC),
    end=datetime(2026, 1, 1, 14, 45, tzinfo=UTC),
)


@pytest.fixture
def clinical(stub: StubControl) -> StubControl:
    stub.reset()
    return stub


def run_clinical_worker(redis_url: str, stub: StubControl, where: Path) -> str:
    """A real worker process for the clinical queue, until it is empty; returns its output."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CLINICAL_FHIR_BASE_URL": stub.fhir_base_url,
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
    }
    done = subprocess.run(
        [str(BIN / "lifeline"), "worker", "--burst", "--queues", "clinical"],
        env=env,
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def clinical_queue(redis_url: str) -> tuple[list[str], int]:
    """The ids of the jobs waiting in the clinical queue, and how many failed."""
    connection = redis.Redis.from_url(redis_url)
    try:
        queue = Queue("clinical", connection=connection)
        return list(queue.get_job_ids()), queue.failed_job_registry.count
    finally:
        connection.close()


def handled_by_h1(twilio: TwilioClient, staff: Staff, redis_url: str) -> tuple[Call, Api]:
    """A caller put through to h1 and the call over: h1 wrapping it up, and h1's API."""
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    connect = call._got(twilio.twiml("/twilio/connect?handler=h1&offer=1", call.params()))
    twilio.twiml(
        connect.first("Client").get("url", ""), call.params() | {"CallSid": "CA" + "f" * 32}
    )
    twilio.twiml(connect.first("Dial").get("action", ""), call.params(DialCallStatus="completed"))
    return call, Api(twilio.client, token_for(redis_url, Role.HANDLER, "h1"))


def resources_in(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}


def test_an_appointment_booked_wrap_up_without_a_booked_slot_is_refused(
    twilio: TwilioClient,
    staff: Staff,
    redis_url: str,
    clinical: StubControl,
    sync_redis: redis.Redis,
) -> None:
    _call, handler = handled_by_h1(twilio, staff, redis_url)

    refused = handler.send(
        "POST",
        "/api/v1/handlers/h1/wrap-up",
        {"outcome": "appointment_booked", "notes": "GP surgery, 14:30 today"},
        409,
    )

    assert refused == {
        "error": "book an appointment for this case in the console before wrapping up as "
        '"appointment booked"'
    }
    assert sync_redis.hget(keys.handler("h1"), "state") == "wrap_up"  # still theirs to wrap up
    assert clinical_queue(redis_url) == ([], 0)  # nothing sent
    assert clinical.received() == []
    done = handler.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "referred"})
    assert done["state"] == "available"


@pytest.mark.parametrize("server", ["plain", "bars"])
def test_a_wrap_up_corrected_before_the_handler_moves_on_reaches_the_system_as_well(
    server: str,
    twilio: TwilioClient,
    staff: Staff,
    redis_url: str,
    clinical: StubControl,
    tmp_path: Path,
) -> None:
    clinical.server(server)
    _call, handler = handled_by_h1(twilio, staff, redis_url)

    handler.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "referred", "available": False})
    handler.send(
        "POST",
        "/api/v1/handlers/h1/wrap-up",
        {"outcome": "ambulance_requested", "notes": "chest pain after all"},
    )
    run_clinical_worker(redis_url, clinical, tmp_path)

    received = clinical.received()
    assert [r["outcome"] for r in received] == ["created", "created"]
    assert len({r["case_id"] for r in received}) == 2  # a request id each
    requests = clinical.resources("ServiceRequest")
    assert len(requests) == 2
    assert len({json.dumps(r["identifier"]) for r in requests}) == 2


def test_the_same_wrap_up_sent_twice_is_one_request(
    twilio: TwilioClient,
    staff: Staff,
    redis_url: str,
    clinical: StubControl,
    sync_redis: redis.Redis,
    tmp_path: Path,
) -> None:
    clinical.server("plain")
    call, handler = handled_by_h1(twilio, staff, redis_url)
    body = {"outcome": "ambulance_requested", "notes": "chest pain", "available": False}

    handler.send("POST", "/api/v1/handlers/h1/wrap-up", body)
    handler.send("POST", "/api/v1/handlers/h1/wrap-up", body)  # its answer lost: sent again
    run_clinical_worker(redis_url, clinical, tmp_path)

    wrapped = [
        r["identifier"][0]["value"].split("/", 1)[1] for r in clinical.resources("ServiceRequest")
    ]
    assert sorted(wrapped) == ["wrap-up"], wrapped
    assert sync_redis.hget(keys.call(call.sid), "wrap_ups") == "1"


def test_a_booking_with_its_chosen_slot_reaches_the_system_as_an_appointment_for_that_slot(
    redis_url: str, clinical: StubControl, tmp_path: Path
) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection, threads=1)
    try:
        jobs.send_case(
            ClinicalCase(
                case_id="BKBKB-00001",
                kind=CaseKind.BOOKING,
                created=datetime.fromtimestamp(T0, UTC),
                caller_number=CALLER,
                locale="en-GB",
                reason="medical",
                priority=3,
                handler_notes="urgent treatment centre",
                appointment=SLOT,
            )
        )
    finally:
        jobs.close()
        connection.close()

    run_clinical_worker(redis_url, clinical, tmp_path)

    [received] = clinical.received("BKBKB-00001")
    assert received["outcome"] == "created"
    appointment = resources_in(received["bundle"])["Appointment"]
    assert appointment["slot"] == [{"reference": "Slot/ut-1430"}]
    assert (appointment["start"], appointment["end"]) == (
        "2026-01-01T14:30:00Z",
        "2026-01-01T14:45:00Z",
    )
    assert appointment["status"] == "booked"
    assert [r["resourceType"] for r in clinical.resources()] == [
        "Patient",
        "Encounter",
        "ServiceRequest",
        "Appointment",
    ]


T_BOOK = "2026-01-05T08:00:00+00:00"
DENTAL_0930 = slot("dental-0930", "dental", "2026-01-05T09:30:00Z", "2026-01-05T09:45:00Z")
DENTAL_1000 = slot("dental-1000", "dental", "2026-01-05T10:00:00Z", "2026-01-05T10:15:00Z")
URGENT_0900 = slot("urgent-0900", "urgent-care", "2026-01-05T09:00:00Z", "2026-01-05T09:20:00Z")
EARLY = slot("dental-0700", "dental", "2026-01-05T07:00:00Z", "2026-01-05T07:15:00Z")
QUICK = 0.3  # the adapter's booking timeout in these tests; the stub's `slow` holds 1 s


@pytest.fixture
async def system(clinical: StubControl) -> AsyncIterator[ClinicalSystem]:
    clinical.set_slots(DENTAL_1000, URGENT_0900, EARLY, DENTAL_0930)
    async with httpx.AsyncClient(trust_env=False) as client:
        yield ClinicalSystem(clinical.fhir_base_url, client, booking_timeout=QUICK)


def booked_slot(at: dict[str, str]) -> BookedSlot:
    return BookedSlot(slot=f"Slot/{at['id']}", start=at["start"], end=at["end"])


def booking_of(case_id: str, at: dict[str, str]) -> ClinicalCase:
    """What the console books: the wrap-up's case, with the slot chosen."""
    return ClinicalCase(
        case_id=case_id,
        kind=CaseKind.BOOKING,
        created=datetime.fromisoformat(T_BOOK),
        caller_number=CALLER,
        locale="en-GB",
        reason="dental",
        priority=4,
        request=Request.WRAP_UP,
        appointment=booked_slot(at),
    )


async def test_the_free_slots_are_those_of_the_service_the_reason_needs_from_now_earliest_first(
    system: ClinicalSystem,
) -> None:
    after = datetime.fromisoformat(T_BOOK)

    dental = await system.free_slots(Reason.DENTAL, after, count=5)
    urgent = await system.free_slots(Reason.MEDICINES, after, count=5)

    assert dental == [booked_slot(DENTAL_0930), booked_slot(DENTAL_1000)]
    assert urgent == [booked_slot(URGENT_0900)]
    assert await system.free_slots(Reason.DENTAL, after, count=1) == [booked_slot(DENTAL_0930)]
    assert await system.free_slots(Reason.MENTAL_HEALTH, after, count=5) == []


@pytest.mark.parametrize(
    ("mode", "detail"),
    [("down", "unreachable"), ("errors", "answered 503"), ("slow", "no answer within 0.3 s")],
)
async def test_a_search_the_system_does_not_answer_is_unavailable(
    clinical: StubControl, system: ClinicalSystem, mode: str, detail: str
) -> None:
    clinical.fault(mode, slow_seconds=1.0)

    with pytest.raises(ClinicalUnavailable, match=detail):
        await system.free_slots(Reason.DENTAL, datetime.fromisoformat(T_BOOK), count=5)


async def test_a_booking_holds_the_slot_and_the_wrap_up_carries_that_appointment_once(
    clinical: StubControl, system: ClinicalSystem
) -> None:
    booking = booking_of("BKBKB-00002", DENTAL_0930)

    delivery = await system.book(booking)

    assert delivery.outcome is Outcome.CREATED
    [received] = clinical.received("BKBKB-00002/booking")
    assert [e["resource"]["resourceType"] for e in received["bundle"]["entry"]] == [
        "Patient",
        "Appointment",
    ]
    [appointment] = clinical.resources("Appointment")
    assert appointment["slot"] == ["Slot/dental-0930"]
    assert appointment["identifier"] == [
        {"system": "https://lifeline.nhs.example/appointment-id", "value": "BKBKB-00002/wrap-up"}
    ]
    assert [s["status"] for s in clinical.slots() if s["id"] == "dental-0930"] == ["busy"]
    assert await system.free_slots(Reason.DENTAL, datetime.fromisoformat(T_BOOK), 5) == [
        booked_slot(DENTAL_1000)
    ]

    wrap_up = booking.model_copy(update={"handler_notes": "dental pain, seen at 09:30"})
    sent = await system.send(wrap_up)

    assert sent.outcome is Outcome.CREATED  # the request and the encounter of the wrap-up
    [wrapped] = clinical.received("BKBKB-00002/wrap-up")
    assert wrapped["bundle"] == bundle_json(wrap_up)
    statuses = [e["response"]["status"] for e in wrapped["answer"]["entry"]]
    # Its own Patient, Encounter and ServiceRequest; the booking's Appointment, found.
    assert statuses == ["201 Created", "201 Created", "201 Created", "200 OK"]
    assert len(clinical.resources("Appointment")) == 1


async def test_a_slot_taken_meanwhile_is_answered_as_such(
    clinical: StubControl, system: ClinicalSystem
) -> None:
    await system.book(booking_of("BKBKB-00003", DENTAL_0930))

    with pytest.raises(SlotTaken) as taken:
        await system.book(booking_of("BKBKB-00004", DENTAL_0930))

    assert taken.value.status == 409
    assert taken.value.diagnostics == "Slot/dental-0930 is already booked"
    assert len(clinical.resources("Appointment")) == 1


async def test_a_booking_whose_answer_was_lost_is_booked_once_when_tried_again(
    clinical: StubControl, system: ClinicalSystem
) -> None:
    clinical.fault("slow", slow_seconds=1.0)
    with pytest.raises(ClinicalUnavailable):
        await system.book(booking_of("BKBKB-00005", DENTAL_0930))  # stored all the same
    clinical.fault("up")

    again = await system.book(booking_of("BKBKB-00005", DENTAL_0930))

    assert again.outcome is Outcome.DUPLICATE  # received before: booked, not booked twice
    assert len(clinical.resources("Appointment")) == 1


@pytest.mark.parametrize("request_kind", list(Request))
def test_a_booking_without_the_slot_it_booked_is_refused(request_kind: Request) -> None:
    values = booking_of("BKBKB-00006", DENTAL_0930).model_dump() | {"request": request_kind}

    assert ClinicalCase.model_validate(values).appointment is not None
    with pytest.raises(ValidationError, match="a booking needs the slot it booked"):
        ClinicalCase.model_validate(values | {"appointment": None})


async def test_a_booking_whose_patient_a_plain_server_holds_twice_does_not_stop_the_wrap_up(
    clinical: StubControl, system: ClinicalSystem
) -> None:
    """A booking tried twice at once on a server whose conditional creates race leaves its
    Patient twice: the wrap-up's own Patient is another, so the wrap-up still goes in whole."""
    clinical.server("plain")
    booking = booking_of("BKBKB-00007", DENTAL_0930)
    assert (await system.book(booking)).outcome is Outcome.CREATED
    [patient] = [
        e for e in booking_bundle_json(booking)["entry"] if e["request"]["url"] == "Patient"
    ]
    del patient["request"]["ifNoneExist"]  # the other booking's, created meanwhile
    raced = {"resourceType": "Bundle", "type": "transaction", "entry": [patient]}
    assert clinical.post_transaction(raced).status_code == 200

    wrap_up = booking.model_copy(update={"handler_notes": "dental pain, seen at 09:30"})
    sent = await system.send(wrap_up)

    assert sent.outcome is Outcome.CREATED
    [wrapped] = clinical.received("BKBKB-00007/wrap-up")
    statuses = [e["response"]["status"] for e in wrapped["answer"]["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "200 OK"]  # Appointment found
    assert len(clinical.resources("ServiceRequest")) == 1
    assert len(clinical.resources("Appointment")) == 1


@pytest.mark.parametrize("server", ["bars", "plain"])
async def test_a_booking_found_made_before_for_another_slot_is_not_reported_booked(
    clinical: StubControl, system: ClinicalSystem, server: str
) -> None:
    """The case's booking was made before for 09:30 (its answer lost, say, and Lifeline's record
    of it with it); booking 10:00 for it now is found as a duplicate, of the 09:30 booking."""
    clinical.server(server)
    assert (await system.book(booking_of("BKBKB-00008", DENTAL_0930))).outcome is Outcome.CREATED

    again = await system.book(booking_of("BKBKB-00008", DENTAL_0930))
    with pytest.raises(BookedElsewhere) as elsewhere:
        await system.book(booking_of("BKBKB-00008", DENTAL_1000))

    assert again.outcome is Outcome.DUPLICATE  # the same slot: booked, once
    assert elsewhere.value.slots == ("Slot/dental-0930",)
    assert "booked for another slot" in str(elsewhere.value)
    assert [a["slot"] for a in clinical.resources("Appointment")] == [["Slot/dental-0930"]]
