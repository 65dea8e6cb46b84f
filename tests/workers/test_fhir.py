"""The transaction Bundle Lifeline sends for a case: valid, deterministic, self-contained."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from workers.fhir import CASE_ID_SYSTEM, CaseKind, ClinicalCase, bundle_for, bundle_json

CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
CALLER = "+447700900123"
TAG = {"system": "https://lifeline.nhs.example/tags", "code": "contingency"}


def case(kind: CaseKind = CaseKind.REFERRAL, **changes: Any) -> ClinicalCase:
    values: dict[str, Any] = {
        "case_id": "7K2QX-M9D4A",
        "kind": kind,
        "created": CREATED,
        "caller_number": CALLER,
        "locale": "en-GB",
        "reason": "medical",
        "priority": 3,
    }
    if kind is CaseKind.BOOKING:
        values["appointment_start"] = CREATED + timedelta(hours=4)
    values.update(changes)
    return ClinicalCase(**values)


def resources(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Bundle's resources by type (each type appears once)."""
    found = {entry["resource"]["resourceType"]: entry["resource"] for entry in data["entry"]}
    assert len(found) == len(data["entry"])
    return found


def references(data: Any) -> list[str]:
    if isinstance(data, dict):
        own = [data["reference"]] if isinstance(data.get("reference"), str) else []
        return own + [ref for value in data.values() for ref in references(value)]
    if isinstance(data, list):
        return [ref for item in data for ref in references(item)]
    return []


@pytest.mark.parametrize("kind", list(CaseKind))
def test_the_bundle_for_each_kind_is_a_valid_transaction_identified_by_the_case_id(
    kind: CaseKind,
) -> None:
    data = bundle_json(case(kind))

    Bundle.model_validate(data)  # raises if it is not valid FHIR
    assert data["type"] == "transaction"
    assert data["identifier"] == {"system": CASE_ID_SYSTEM, "value": "7K2QX-M9D4A"}
    for entry in data["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
    request = resources(data)["ServiceRequest"]
    assert request["identifier"] == [{"system": CASE_ID_SYSTEM, "value": "7K2QX-M9D4A"}]
    assert (request["status"], request["intent"]) == ("active", "order")
    assert request["code"]["coding"][0]["code"] == kind.value
    assert request["code"]["text"]


def test_building_twice_gives_the_same_json_and_another_case_other_uuids() -> None:
    first = json.dumps(bundle_json(case(CaseKind.BOOKING)), sort_keys=True)
    again = json.dumps(bundle_json(case(CaseKind.BOOKING)), sort_keys=True)
    other = bundle_json(case(CaseKind.BOOKING, case_id="AAAAA-BBBBB"))

    assert first == again
    mine = {entry["fullUrl"] for entry in json.loads(first)["entry"]}
    theirs = {entry["fullUrl"] for entry in other["entry"]}
    assert mine.isdisjoint(theirs)


@pytest.mark.parametrize("kind", list(CaseKind))
def test_every_reference_resolves_to_an_entry_of_the_right_type(kind: CaseKind) -> None:
    data = bundle_json(case(kind))
    by_url = {entry["fullUrl"]: entry["resource"]["resourceType"] for entry in data["entry"]}
    found = resources(data)

    assert all(ref in by_url for ref in references(data))
    assert by_url[found["Encounter"]["subject"]["reference"]] == "Patient"
    assert by_url[found["ServiceRequest"]["subject"]["reference"]] == "Patient"
    assert by_url[found["ServiceRequest"]["encounter"]["reference"]] == "Encounter"


def test_a_booking_carries_a_booked_appointment_for_the_patient() -> None:
    start = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    data = bundle_json(case(CaseKind.BOOKING, appointment_start=start))
    found = resources(data)
    by_url = {entry["fullUrl"]: entry["resource"]["resourceType"] for entry in data["entry"]}

    appointment = found["Appointment"]
    assert appointment["status"] == "booked"
    assert appointment["start"] == "2026-01-05T14:00:00Z"
    assert appointment["end"] > appointment["start"]
    [participant] = appointment["participant"]
    assert by_url[participant["actor"]["reference"]] == "Patient"
    assert by_url[appointment["basedOn"][0]["reference"]] == "ServiceRequest"


@pytest.mark.parametrize("kind", [CaseKind.REFERRAL, CaseKind.AMBULANCE])
def test_only_a_booking_has_an_appointment(kind: CaseKind) -> None:
    assert set(resources(bundle_json(case(kind)))) == {"Patient", "Encounter", "ServiceRequest"}


@pytest.mark.parametrize(
    ("kind", "start"),
    [(CaseKind.BOOKING, None), (CaseKind.REFERRAL, CREATED), (CaseKind.AMBULANCE, CREATED)],
)
def test_an_appointment_start_is_required_for_a_booking_and_refused_otherwise(
    kind: CaseKind, start: datetime | None
) -> None:
    with pytest.raises(ValidationError, match="appointment_start"):
        case(kind, appointment_start=start)


def test_a_contingency_case_is_tagged_on_the_bundle_and_the_service_request_only() -> None:
    data = bundle_json(case(contingency=True))
    found = resources(data)

    assert TAG.items() <= data["meta"]["tag"][0].items()
    assert TAG.items() <= found["ServiceRequest"]["meta"]["tag"][0].items()
    assert "meta" not in found["Patient"]
    assert "meta" not in found["Encounter"]
    assert found["Encounter"]["status"] == "finished"  # replayed after the call ended


def test_a_live_case_carries_no_tag_at_all() -> None:
    data = bundle_json(case())

    assert "contingency" not in json.dumps(data)
    assert resources(data)["Encounter"]["status"] == "in-progress"


@pytest.mark.parametrize(
    ("locale", "language", "text"),
    [("en-GB", "en-GB", "English (United Kingdom)"), ("cy-GB", "cy-GB", "Welsh (United Kingdom)")],
)
def test_the_locale_is_the_patients_preferred_language(
    locale: str, language: str, text: str
) -> None:
    patient = resources(bundle_json(case(locale=locale)))["Patient"]

    [communication] = patient["communication"]
    assert communication["preferred"] is True
    assert communication["language"]["coding"] == [{"system": "urn:ietf:bcp:47", "code": language}]
    assert communication["language"]["text"] == text


def test_the_patient_has_the_callers_number_and_no_name() -> None:
    patient = resources(bundle_json(case()))["Patient"]

    assert patient["telecom"] == [{"system": "phone", "value": CALLER}]
    assert "name" not in patient


def test_a_withheld_number_gives_a_patient_without_telecom() -> None:
    patient = resources(bundle_json(case(caller_number="")))["Patient"]

    assert "telecom" not in patient


@pytest.mark.parametrize(
    ("priority", "request_priority", "encounter_code"),
    [
        (1, "stat", "EM"),
        (2, "asap", "A"),
        (3, "urgent", "UR"),
        (4, "routine", "R"),
        (5, "routine", "R"),
    ],
)
def test_the_priority_class_maps_to_fhir_priorities(
    priority: int, request_priority: str, encounter_code: str
) -> None:
    found = resources(bundle_json(case(priority=priority)))

    assert found["ServiceRequest"]["priority"] == request_priority
    [coding] = found["Encounter"]["priority"]["coding"]
    assert coding["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
    assert coding["code"] == encounter_code


def test_the_encounter_is_virtual_about_the_reason_for_the_call() -> None:
    encounter = resources(bundle_json(case(reason="mental_health")))["Encounter"]

    assert encounter["class"]["code"] == "VR"
    assert encounter["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    [reason] = encounter["reasonCode"]
    assert reason["coding"][0]["code"] == "mental_health"
    assert reason["text"] == "Mental health"
    assert encounter["period"]["start"] == "2026-01-05T09:30:00Z"


def test_handler_notes_become_a_note_and_no_notes_none() -> None:
    noted = resources(bundle_json(case(handler_notes="Chest pain since noon")))
    plain = resources(bundle_json(case()))

    assert noted["ServiceRequest"]["note"] == [{"text": "Chest pain since noon"}]
    assert "note" not in plain["ServiceRequest"]


def test_times_are_sent_in_utc_whatever_zone_they_were_given_in() -> None:
    summer = timezone(timedelta(hours=1))
    made = case(created=datetime(2026, 7, 1, 10, 0, tzinfo=summer))

    assert resources(bundle_json(made))["ServiceRequest"]["authoredOn"] == "2026-07-01T09:00:00Z"


@pytest.mark.parametrize(
    "changes",
    [
        {"created": datetime(2026, 1, 5, 9, 30)},  # naive
        {"caller_number": "07700900123"},  # not E.164
        {"priority": 6},
        {"reason": "boredom"},
        {"locale": "fr-FR"},
        {"case_id": "not a case id"},
    ],
)
def test_a_malformed_case_is_refused_without_echoing_its_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        case(**changes)

    assert "07700900123" not in str(refused.value)
    assert "input_value" not in str(refused.value)


def test_bundle_for_returns_the_fhir_model() -> None:
    bundle = bundle_for(case())

    assert isinstance(bundle, Bundle)
    assert bundle.identifier is not None
    assert bundle.identifier.value == "7K2QX-M9D4A"
