"""Appointment slots on the stub: a FHIR `Slot` search (free slots of a service from a time, as a
searchset), a booked slot busy and no longer found, and a second Appointment for a slot refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.slot import Slot

from tests.sim.clinical.stub import (
    SERVICE_TYPE_SYSTEM,
    ManualWall,
    StubControl,
    booking,
    running_stub,
    slot,
)
from tests.sim.clinical.test_fhir_api import issue_of

DENTAL_0900 = slot("dental-0900", "dental", "2026-01-05T09:00:00Z", "2026-01-05T09:15:00Z")
DENTAL_0930 = slot("dental-0930", "dental", "2026-01-05T09:30:00Z", "2026-01-05T09:45:00Z")
DENTAL_1000 = slot("dental-1000", "dental", "2026-01-05T10:00:00Z", "2026-01-05T10:15:00Z")
URGENT_0900 = slot("urgent-0900", "urgent-care", "2026-01-05T09:00:00Z", "2026-01-05T09:20:00Z")
FREE_DENTAL = [
    ("status", "free"),
    ("start", "ge2026-01-05T09:10:00Z"),
    ("service-type", f"{SERVICE_TYPE_SYSTEM}|dental"),
    ("_count", "5"),
]


@pytest.fixture
def slots(stub: StubControl) -> StubControl:
    stub.set_slots(DENTAL_1000, URGENT_0900, DENTAL_0900, DENTAL_0930)
    return stub


def found(response: httpx.Response) -> list[str]:
    """The ids of the Slots a search answered, in its order."""
    assert response.status_code == 200, response.text
    bundle = Bundle.model_validate(response.json())  # valid FHIR, to begin with
    assert bundle.type == "searchset"
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


def test_a_search_answers_the_free_slots_of_a_service_from_a_time_earliest_first(
    slots: StubControl,
) -> None:
    response = slots.search_slots(FREE_DENTAL)

    assert response.headers["content-type"] == "application/fhir+json"
    assert found(response) == ["dental-0930", "dental-1000"]  # 09:00 is before the time asked
    body = response.json()
    assert body["total"] == 2
    [first, _] = body["entry"]
    assert first["fullUrl"] == f"{slots.fhir_base_url}/Slot/dental-0930"
    assert first["search"] == {"mode": "match"}
    resource = Slot.model_validate(first["resource"])
    assert (resource.status, resource.start, resource.end) == (
        "free",
        datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        datetime(2026, 1, 5, 9, 45, tzinfo=UTC),
    )
    [service] = resource.serviceType or []
    assert [(c.system, c.code) for c in service.coding or []] == [(SERVICE_TYPE_SYSTEM, "dental")]
    assert first["resource"]["schedule"] == {"reference": "Schedule/dental"}


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ([("service-type", "dental")], ["dental-0900", "dental-0930", "dental-1000"]),
        ([("service-type", "urgent-care,dental"), ("_count", "2")], ["dental-0900", "urgent-0900"]),
        ([("service-type", "https://elsewhere.example/types|dental")], []),
        (
            [("start", "ge2026-01-05T09:30:00Z"), ("start", "lt2026-01-05T10:00:00Z")],
            ["dental-0930"],
        ),
        ([("start", "gt2026-01-05T09:30:00+00:00")], ["dental-1000"]),
        ([("start", "le2026-01-05T09:00:00Z")], ["dental-0900", "urgent-0900"]),
        ([("status", "busy")], []),
        ([], ["dental-0900", "urgent-0900", "dental-0930", "dental-1000"]),
    ],
)
def test_search_parameters_filter_and_count_limits(
    slots: StubControl, params: list[tuple[str, str]], ids: list[str]
) -> None:
    assert found(slots.search_slots(params)) == ids


def test_count_limits_the_entries_but_not_the_total(slots: StubControl) -> None:
    response = slots.search_slots([("service-type", "dental"), ("_count", "1")])

    assert found(response) == ["dental-0900"]
    assert response.json()["total"] == 3


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ([("practitioner", "Practitioner/1")], "not-supported"),
        ([("start", "ge2026-01-05")], "invalid"),  # no time (zone): say so rather than guess
        ([("start", "sa2026-01-05T09:00:00Z")], "invalid"),
        ([("status", "open")], "invalid"),
        ([("_count", "-1")], "invalid"),
        ([("_count", "many")], "invalid"),
    ],
)
def test_a_search_this_stub_cannot_do_is_refused_400_saying_why(
    slots: StubControl, params: list[tuple[str, str]], code: str
) -> None:
    response = slots.search_slots(params)

    assert response.status_code == 400
    assert issue_of(response.json())["code"] == code


def book(
    stub: StubControl,
    request_id: str,
    at: dict[str, str],
    appointment_id: str | None = None,
    **options: Any,
) -> httpx.Response:
    return stub.post_transaction(
        booking(request_id, f"Slot/{at['id']}", at["start"], at["end"], appointment_id, **options)
    )


def test_a_booked_slot_is_busy_and_no_longer_found_free(slots: StubControl) -> None:
    answer = book(slots, "BOOKD-00001/booking", DENTAL_0930, "BOOKD-00001/wrap-up")

    assert answer.status_code == 200, answer.text
    assert found(slots.search_slots(FREE_DENTAL)) == ["dental-1000"]
    busy = [s for s in slots.slots() if s["id"] == "dental-0930"]
    [appointment] = slots.resources("Appointment")
    assert busy == [
        {
            **DENTAL_0930,
            "status": "busy",
            "appointment": f"Appointment/{appointment['id']}",
        }
    ]
    assert appointment["slot"] == ["Slot/dental-0930"]
    assert found(slots.search_slots([("status", "busy")])) == ["dental-0930"]


@pytest.mark.parametrize("kind", ["bars", "plain"])
def test_a_second_appointment_for_a_slot_is_refused_409_saying_the_slot_is_taken(
    slots: StubControl, kind: str
) -> None:
    slots.server(kind)
    book(slots, "BOOKD-00002/booking", DENTAL_0930, "BOOKD-00002/wrap-up")

    again = book(slots, "BOOKD-00003/booking", DENTAL_0930, "BOOKD-00003/wrap-up")

    assert again.status_code == 409
    issue = issue_of(again.json())
    assert issue["code"] == "conflict"
    assert issue["diagnostics"] == "Slot/dental-0930 is already booked"
    assert len(slots.resources("Appointment")) == 1
    assert len(slots.resources("Patient")) == 1  # the transaction failed whole
    assert [r["outcome"] for r in slots.received()] == ["created", "invalid"]
    # Refused, not received: the same request id may book another slot.
    assert book(slots, "BOOKD-00003/booking", DENTAL_1000, "BOOKD-00003/wrap-up").status_code == 200


def test_one_transaction_booking_a_slot_twice_is_refused(slots: StubControl) -> None:
    bundle = booking("BOOKD-00004/booking", "Slot/dental-0930", *times(DENTAL_0930))
    twice = {**bundle["entry"][1], "fullUrl": "urn:uuid:5f0c1b7e-0000-5000-8000-0000000000a3"}
    bundle["entry"].append(twice)

    answer = slots.post_transaction(bundle)

    assert answer.status_code == 409
    assert slots.resources("Appointment") == []


def times(at: dict[str, str]) -> tuple[str, str]:
    return at["start"], at["end"]


def test_a_replay_of_a_booking_finds_its_appointment_rather_than_booking_twice(
    slots: StubControl,
) -> None:
    slots.server("plain")
    first = book(slots, "BOOKD-00005/booking", DENTAL_0930, "BOOKD-00005/wrap-up")
    # The wrap-up carries the same Appointment (the same identifier): found, not a double booking.
    again = book(slots, "BOOKD-00005/wrap-up", DENTAL_0930, "BOOKD-00005/wrap-up")

    assert (first.status_code, again.status_code) == (200, 200)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["201 Created", "200 OK"]
    assert len(slots.resources("Appointment")) == 1


def test_an_appointment_at_other_times_than_its_slot_is_refused(slots: StubControl) -> None:
    answer = slots.post_transaction(
        booking("BOOKD-00006/booking", "Slot/dental-0930", *times(DENTAL_1000))
    )

    assert answer.status_code == 422
    diagnostics = issue_of(answer.json())["diagnostics"]
    assert "start and end must be those of Slot/dental-0930" in diagnostics
    assert [s["status"] for s in slots.slots()] == ["free"] * 4


def test_a_cancelled_appointment_holds_no_slot(slots: StubControl) -> None:
    book(slots, "BOOKD-00007/booking", DENTAL_0930, status="cancelled")

    assert found(slots.search_slots(FREE_DENTAL)) == ["dental-0930", "dental-1000"]


def test_a_slot_this_server_does_not_serve_is_booked_once_too(stub: StubControl) -> None:
    elsewhere = slot("gp-1400", "urgent-care", "2026-01-05T14:00:00Z", "2026-01-05T14:10:00Z")

    assert book(stub, "BOOKD-00008/booking", elsewhere).status_code == 200
    assert book(stub, "BOOKD-00009/booking", elsewhere).status_code == 409


def test_faults_apply_to_searches_too(slots: StubControl) -> None:
    slots.fault("errors")
    failing = slots.search_slots(FREE_DENTAL)
    assert failing.status_code == 503
    assert issue_of(failing.json())["code"] == "transient"

    slots.fault("slow", slow_seconds=0.5)
    with httpx.Client(timeout=0.1, trust_env=False) as impatient, pytest.raises(httpx.ReadTimeout):
        slots.search_slots(FREE_DENTAL, impatient)

    slots.fault("down")
    with pytest.raises(httpx.ConnectError):
        slots.search_slots(FREE_DENTAL)


@pytest.mark.parametrize(
    "bad",
    [
        [{"id": "a", "service_type": "dental", "start": "2026-01-05T09:00:00Z"}],
        [slot("a", "dental", "2026-01-05T09:00:00Z", "2026-01-05T09:00:00Z")],
        [slot("a b", "dental", "2026-01-05T09:00:00Z", "2026-01-05T09:15:00Z")],
        [slot("a", "dental", "2026-01-05T09:00:00", "2026-01-05T09:15:00")],
        [DENTAL_0900, DENTAL_0900],
    ],
)
def test_slots_that_cannot_be_are_refused_and_nothing_changes(
    slots: StubControl, bad: list[dict[str, str]]
) -> None:
    before = slots.slots()

    response = slots.control.put("/control/slots", json={"slots": bad})

    assert response.status_code == 422
    assert "error" in response.json()
    assert slots.slots() == before


def test_it_starts_with_free_slots_of_every_service_and_a_reset_restores_them() -> None:
    wall = ManualWall(datetime(2026, 1, 5, 8, 40, tzinfo=UTC).timestamp())
    with running_stub(wall) as stub:
        first = stub.slots()
        services = {s["service_type"] for s in first}
        assert services == {"urgent-care", "mental-health", "dental"}
        assert all(s["status"] == "free" for s in first)
        dental = [s for s in first if s["service_type"] == "dental"]
        assert dental[0]["start"] == "2026-01-05T09:00:00Z"
        start = datetime.fromisoformat(dental[0]["start"])
        assert datetime.fromisoformat(dental[0]["end"]) - start == timedelta(minutes=15)
        assert len(dental) >= 8

        stub.set_slots(DENTAL_0900)
        book(stub, "BOOKD-00010/booking", DENTAL_0900)
        stub.reset()

        assert stub.slots() == first
