"""The transaction Bundle Lifeline sends for a case: valid (fhir.resources' R4B and the official R4
JSON schema), deterministic, self-contained, every entry a conditional create on an identifier
of its own request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from tests.fhir_r4 import r4_problems
from workers.fhir import CASE_ID_SYSTEM, IDENTIFIER_SYSTEMS, booking_bundle_json, bundle_for
from workers.fhir import bundle_json as built

CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
CALLER = "+447700900123"
TAG = {"system": "https://lifeline.nhs.example/tags", "code": "contingency"}
SLOT = BookedSlot(
    slot="Slot/gp-1400",
    start=datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
    end=datetime(2026, 1, 5, 14, 15, tzinfo=UTC),
)


def bundle_json(case: ClinicalCase) -> dict[str, Any]:
    """The Bundle as sent, having passed the R4 JSON schema (fhir.resources checks R4B's)."""
    data = built(case)
    assert r4_problems(data) == []
    return data


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
        values["appointment"] = SLOT
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

    Bundle.model_validate(data)  # raises if it is not valid FHIR (R4B); bundle_json checked R4
    assert data["type"] == "transaction"
    assert data["identifier"] == {"system": CASE_ID_SYSTEM, "value": "7K2QX-M9D4A"}
    for entry in data["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["url"] == entry["resource"]["resourceType"]
    request = resources(data)["ServiceRequest"]
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

    # Within the Bundle, but for the booked Slot: the clinical system's own, by its id.
    inside = [ref for ref in references(data) if not ref.startswith("Slot/")]
    assert all(ref in by_url for ref in inside)
    assert by_url[found["Encounter"]["subject"]["reference"]] == "Patient"
    assert by_url[found["ServiceRequest"]["subject"]["reference"]] == "Patient"
    assert by_url[found["ServiceRequest"]["encounter"]["reference"]] == "Encounter"


def test_a_booking_carries_a_booked_appointment_for_its_slot_and_the_patient() -> None:
    data = bundle_json(case(CaseKind.BOOKING, appointment=SLOT))
    found = resources(data)
    by_url = {entry["fullUrl"]: entry["resource"]["resourceType"] for entry in data["entry"]}

    appointment = found["Appointment"]
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [{"reference": "Slot/gp-1400"}]
    assert (appointment["start"], appointment["end"]) == (
        "2026-01-05T14:00:00Z",
        "2026-01-05T14:15:00Z",
    )
    [participant] = appointment["participant"]
    assert by_url[participant["actor"]["reference"]] == "Patient"
    assert by_url[appointment["basedOn"][0]["reference"]] == "ServiceRequest"


def test_a_booking_without_the_slot_it_booked_is_refused() -> None:
    # The console books a slot before "appointment booked" can be chosen: a booking has one.
    with pytest.raises(ValidationError, match="a booking needs the slot it booked"):
        case(CaseKind.BOOKING, appointment=None)


@pytest.mark.parametrize("kind", [CaseKind.REFERRAL, CaseKind.AMBULANCE])
def test_only_a_booking_has_an_appointment(kind: CaseKind) -> None:
    assert set(resources(bundle_json(case(kind)))) == {"Patient", "Encounter", "ServiceRequest"}


@pytest.mark.parametrize("kind", [CaseKind.REFERRAL, CaseKind.AMBULANCE])
def test_an_appointment_is_refused_but_for_a_booking(kind: CaseKind) -> None:
    with pytest.raises(ValidationError, match="appointment"):
        case(kind, appointment=SLOT)


@pytest.mark.parametrize(
    "slot",
    [
        {"slot": "Slot/a", "start": CREATED, "end": CREATED},  # ends as it starts
        {"slot": "Slot/a", "start": CREATED, "end": CREATED - timedelta(minutes=10)},
        {"slot": "Practitioner/a", "start": CREATED, "end": CREATED + timedelta(minutes=10)},
        {"slot": "Slot/a", "start": datetime(2026, 1, 5, 9, 30), "end": CREATED},  # naive
    ],
)
def test_a_slot_that_is_not_one_is_refused(slot: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BookedSlot(**slot)


def test_a_job_queued_before_appointments_carried_their_slot_is_still_read() -> None:
    queued = case().model_dump(mode="json", exclude={"appointment"})
    queued["appointment_start"] = None

    assert ClinicalCase.model_validate(queued) == case()


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


def identifiers(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each resource's one business identifier, by resource type."""
    found = {}
    for kind, resource in resources(data).items():
        [identifier] = resource["identifier"]
        found[kind] = (identifier["system"], identifier["value"])
    return found


CASES = [
    pytest.param(kind, request, contingency, id=f"{kind}-{request}-{contingency=}")
    for kind in CaseKind
    for request in Request
    for contingency in (False, True)
]


@pytest.mark.parametrize(("kind", "request_kind", "contingency"), CASES)
def test_every_entry_is_a_conditional_create_on_an_identifier_of_its_own_request(
    kind: CaseKind, request_kind: Request, contingency: bool
) -> None:
    data = bundle_json(case(kind, request=request_kind, contingency=contingency))

    for entry in data["entry"]:
        resource_type = entry["resource"]["resourceType"]
        [identifier] = entry["resource"]["identifier"]
        # The Appointment is the case's, one however often it is wrapped up.
        own = "wrap-up" if resource_type == "Appointment" else request_kind.value
        assert identifier == {
            "system": IDENTIFIER_SYSTEMS[resource_type],
            "value": f"7K2QX-M9D4A/{own}",
        }
        assert entry["request"] == {
            "method": "POST",
            "url": resource_type,
            "ifNoneExist": f"identifier={identifier['system']}|{identifier['value']}",
        }
    assert len(set(IDENTIFIER_SYSTEMS.values())) == len(IDENTIFIER_SYSTEMS)  # one per type
    assert all(s.startswith("https://lifeline.nhs.example/") for s in IDENTIFIER_SYSTEMS.values())


@pytest.mark.parametrize("kind", list(CaseKind))
def test_the_wrap_up_shares_no_identifier_or_full_url_with_the_case_as_opened(
    kind: CaseKind,
) -> None:
    opened = bundle_json(case(kind))
    wrap_up = bundle_json(case(kind, request=Request.WRAP_UP, handler_notes="seen"))

    assert opened["identifier"]["value"] == "7K2QX-M9D4A"
    assert wrap_up["identifier"]["value"] == "7K2QX-M9D4A/wrap-up"
    ours, theirs = identifiers(opened), identifiers(wrap_up)
    assert set(ours) == set(theirs)
    # All but the Appointment, which is the case's, one however it is sent.
    assert all(ours[kind] != theirs[kind] for kind in ours if kind != "Appointment")
    urls = {entry["fullUrl"] for entry in opened["entry"]}
    assert urls.isdisjoint(entry["fullUrl"] for entry in wrap_up["entry"])


def test_both_requests_of_a_case_carry_the_case_id_as_the_requisition() -> None:
    for request_kind in Request:
        data = bundle_json(case(request=request_kind))
        requisition = resources(data)["ServiceRequest"]["requisition"]
        assert requisition == {"system": CASE_ID_SYSTEM, "value": "7K2QX-M9D4A"}


def test_the_same_request_built_again_has_the_same_identifiers_and_another_case_others() -> None:
    first = identifiers(bundle_json(case(CaseKind.BOOKING)))
    again = identifiers(bundle_json(case(CaseKind.BOOKING, handler_notes="changed")))
    other = identifiers(bundle_json(case(CaseKind.BOOKING, case_id="AAAAA-BBBBB")))

    assert first == again
    assert set(first.values()).isdisjoint(other.values())


@pytest.mark.parametrize(
    "changes",
    [{"caller_number": ""}, {"locale": "cy-GB"}, {"handler_notes": "Chest pain\nsince noon"}],
)
def test_other_shapes_of_case_pass_the_r4_schema_too(changes: dict[str, Any]) -> None:
    bundle_json(case(CaseKind.BOOKING, **changes))


def test_the_booking_has_a_patient_of_its_own_and_the_wrap_ups_appointment() -> None:
    """The wrap-up finds the Appointment the booking made; the booking's Patient is its own, so
    that one held twice (a booking raced on a server without a unique index) never makes the
    wrap-up's conditional create match twice (412) and fail whole."""
    wrap_up = case(CaseKind.BOOKING, request=Request.WRAP_UP)
    booking = booking_bundle_json(wrap_up)
    assert r4_problems(booking) == []
    ours, theirs = identifiers(booking), identifiers(bundle_json(wrap_up))

    assert ours["Patient"] == (IDENTIFIER_SYSTEMS["Patient"], "7K2QX-M9D4A/booking")
    assert ours["Patient"] != theirs["Patient"]
    assert ours["Appointment"] == theirs["Appointment"]
    for entry in booking["entry"]:
        [own] = entry["resource"]["identifier"]
        assert entry["request"]["ifNoneExist"] == f"identifier={own['system']}|{own['value']}"


@pytest.mark.parametrize("kind", list(CaseKind))
def test_a_corrected_wrap_up_is_a_request_of_its_own_with_the_same_appointment(
    kind: CaseKind,
) -> None:
    first = bundle_json(case(kind, request=Request.WRAP_UP))
    second = bundle_json(case(kind, request=Request.WRAP_UP, wrap_up_number=2))

    assert first["identifier"]["value"] == "7K2QX-M9D4A/wrap-up"
    assert second["identifier"]["value"] == "7K2QX-M9D4A/wrap-up-2"
    for resource_type, (_, value) in identifiers(second).items():
        own = "wrap-up" if resource_type == "Appointment" else "wrap-up-2"
        assert value == f"7K2QX-M9D4A/{own}"
    assert {e["fullUrl"] for e in first["entry"]}.isdisjoint(e["fullUrl"] for e in second["entry"])
