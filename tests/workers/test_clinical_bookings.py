"""Bookings all the way to the clinical system: a handler's "appointment booked" wrap-up through
the API, and a booking carrying its chosen slot, each sent by a real RQ worker to the stub over
HTTP (which checks every Bundle against the FHIR R4 schema)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue

from console.tokens import Role
from routing.handlers import HandlerState
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, DISPATCH, MAIN_LINE, PUBLIC_BASE_URL
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.sim.clinical.stub import StubControl
from tests.staff import Staff
from tests.twilio import TwilioClient
from workers.enqueue import Jobs
from workers.fhir import BookedSlot

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


def resources_in(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]}


def test_an_appointment_booked_wrap_up_frees_the_handler_and_its_case_reaches_the_system(
    twilio: TwilioClient,
    staff: Staff,
    redis_url: str,
    clinical: StubControl,
    tmp_path: Path,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    connect = call._got(twilio.twiml("/twilio/connect?handler=h1&offer=1", call.params()))
    twilio.twiml(
        connect.first("Client").get("url", ""), call.params() | {"CallSid": "CA" + "f" * 32}
    )
    twilio.twiml(connect.first("Dial").get("action", ""), call.params(DialCallStatus="completed"))
    handler = Api(twilio.client, token_for(redis_url, Role.HANDLER, "h1"))

    done = handler.send(
        "POST",
        "/api/v1/handlers/h1/wrap-up",
        {"outcome": "appointment_booked", "notes": "GP surgery, 14:30 today"},
    )

    assert done == {"handler": "h1", "outcome": "appointment_booked", "state": "available"}
    [job_id], _ = clinical_queue(redis_url)
    assert job_id.endswith("-booking-wrap-up")
    run_clinical_worker(redis_url, clinical, tmp_path)
    assert clinical_queue(redis_url) == ([], 0)
    [received] = clinical.received()
    assert received["outcome"] == "created"  # and so it passed the R4 schema
    found = resources_in(received["bundle"])
    assert found["ServiceRequest"]["code"]["coding"][0]["code"] == "booking"
    assert found["ServiceRequest"]["note"] == [{"text": "GP surgery, 14:30 today"}]
    # No slot was chosen on the console (yet): the request, without an Appointment.
    assert set(found) == {"Patient", "Encounter", "ServiceRequest"}


def test_a_booking_with_its_chosen_slot_reaches_the_system_as_an_appointment_for_that_slot(
    redis_url: str, clinical: StubControl, tmp_path: Path
) -> None:
    connection = redis.Redis.from_url(redis_url)
    jobs = Jobs(connection, threads=1)
    try:
        jobs.send_case(
            "BKBKB-00001",
            "booking",
            CALLER,
            "en-GB",
            "medical",
            3,
            T0,
            notes="urgent treatment centre",
            appointment=SLOT,
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
