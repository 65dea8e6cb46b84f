"""The FHIR transaction Bundle Lifeline sends for a case, built and validated with fhir.resources.

Pure: the same case always gives the same Bundle (uuid5 ids), so a replay is byte-for-byte a replay;
every entry is a conditional create on a business identifier of its own request, so that any FHIR
R4 server, not only one that answers a repeated request id 409 (BaRS), creates it once. A booking's
Appointment is sent first with a Patient of its own (`booking_bundle_json`), then again, found, in
the wrap-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.appointment import Appointment, AppointmentParticipant
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.patient import Patient, PatientCommunication
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import (
    ValidationError,
)

from prompts.catalogue import Locale
from routing.cases import (
    BookedSlot,
    CaseKind,
    ClinicalCase,
    Request,
)
from routing.models import Priority, Reason

CASE_ID_SYSTEM = "https://lifeline.nhs.example/case-id"
# Each resource's business identifier: a system per resource type, the value `<case id>/<request>`.
IDENTIFIER_SYSTEMS = {
    "Patient": "https://lifeline.nhs.example/patient-id",
    "Encounter": "https://lifeline.nhs.example/encounter-id",
    "ServiceRequest": "https://lifeline.nhs.example/service-request-id",
    "Appointment": "https://lifeline.nhs.example/appointment-id",
}
TAG_SYSTEM = "https://lifeline.nhs.example/tags"
SERVICE_TYPE_SYSTEM = "https://lifeline.nhs.example/service-type"
KIND_SYSTEM = "https://lifeline.nhs.example/case-kind"
REASON_SYSTEM = "https://lifeline.nhs.example/call-reason"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, CASE_ID_SYSTEM)
BOOKING_REQUEST = "booking"  # the booking's request id is `<case id>/booking`

# What a Bundle carries: each resource with one business identifier of its own.
Sent = Patient | Encounter | ServiceRequest | Appointment


class InvalidBundle(ValueError):
    """fhir.resources refused what we built: a defect here, never the caller's fault."""


# Priority class -> (ServiceRequest.priority, v3-ActPriority code and display for the Encounter).
PRIORITIES: dict[Priority, tuple[str, str, str]] = {
    Priority.EMERGENCY: ("stat", "EM", "emergency"),
    Priority.URGENT: ("asap", "A", "ASAP"),
    Priority.STANDARD: ("urgent", "UR", "urgent"),
    Priority.ROUTINE: ("routine", "R", "routine"),
    Priority.LOW: ("routine", "R", "routine"),
}

KIND_TEXT = {
    CaseKind.REFERRAL: "Referral from the urgent-care line",
    CaseKind.BOOKING: "Appointment booked by the urgent-care line",
    CaseKind.AMBULANCE: "Ambulance request from the urgent-care line",
}

REASON_TEXT = {
    Reason.MEDICAL: "Medical problem",
    Reason.MENTAL_HEALTH: "Mental health",
    Reason.DENTAL: "Dental problem",
    Reason.MEDICINES: "Question about medicines",
    Reason.EXISTING_CASE: "About an existing case",
    Reason.UNKNOWN: "Reason not given",
}

LANGUAGES = {
    Locale.EN: "English (United Kingdom)",
    Locale.CY: "Welsh (United Kingdom)",
}


def full_url(case: ClinicalCase, resource_type: str) -> str:
    """The entry's `urn:uuid:` fullUrl: uuid5 of the request id, so every build agrees."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{case.request_id}/{resource_type}')}"


def identifier(case: ClinicalCase, resource_type: str, request: str = "") -> Identifier:
    """The resource's business identifier, `<case id>/<request>` (the case's own request unless
    said): what a conditional create searches for."""
    value = f"{case.case_id}/{request}" if request else case.resource_id
    return Identifier(system=IDENTIFIER_SYSTEMS[resource_type], value=value)


def appointment_identifier(case_id: str) -> Identifier:
    """The business identifier of the case's Appointment: its wrap-up's, which a booking made
    ahead of the wrap-up carries too."""
    return Identifier(
        system=IDENTIFIER_SYSTEMS["Appointment"], value=f"{case_id}/{Request.WRAP_UP.value}"
    )


def _contingency_meta(case: ClinicalCase) -> Meta | None:
    if not case.contingency:
        return None
    tag = Coding(
        system=TAG_SYSTEM, code="contingency", display="Captured during a clinical-system outage"
    )
    return Meta(tag=[tag])


def _patient(case: ClinicalCase, request: str = "") -> Patient:
    language = CodeableConcept(
        coding=[Coding(system=LANGUAGE_SYSTEM, code=case.locale.value)],
        text=LANGUAGES[case.locale],
    )
    # A withheld number gives no telecom at all: FHIR refuses an empty value.
    telecom = (
        [ContactPoint(system="phone", value=case.caller_number)] if case.caller_number else None
    )
    return Patient(
        identifier=[identifier(case, "Patient", request)],
        telecom=telecom,
        communication=[PatientCommunication(language=language, preferred=True)],
    )


def _encounter(case: ClinicalCase, patient: Reference) -> Encounter:
    _, code, display = PRIORITIES[case.priority]
    reason = CodeableConcept(
        coding=[Coding(system=REASON_SYSTEM, code=case.reason.value)],
        text=REASON_TEXT[case.reason],
    )
    return Encounter(
        identifier=[identifier(case, "Encounter")],
        # A contingency record is replayed after the call has ended; a live one is still going.
        status="finished" if case.contingency else "in-progress",
        class_fhir=Coding(system=ACT_CODE_SYSTEM, code="VR", display="virtual"),
        priority=CodeableConcept(
            coding=[Coding(system=ACT_PRIORITY_SYSTEM, code=code, display=display)]
        ),
        subject=patient,
        period=Period(start=case.created),
        reasonCode=[reason],
    )


def _service_request(
    case: ClinicalCase, patient: Reference, encounter: Reference
) -> ServiceRequest:
    priority, _, _ = PRIORITIES[case.priority]
    code = CodeableConcept(
        coding=[Coding(system=KIND_SYSTEM, code=case.kind.value)], text=KIND_TEXT[case.kind]
    )
    notes = [Annotation(text=case.handler_notes)] if case.handler_notes.strip() else None
    return ServiceRequest(
        meta=_contingency_meta(case),
        identifier=[identifier(case, "ServiceRequest")],
        # The case both requests belong to (the case as opened and its wrap-up).
        requisition=Identifier(system=CASE_ID_SYSTEM, value=case.case_id),
        status="active",
        intent="order",
        priority=priority,
        code=code,
        subject=patient,
        encounter=encounter,
        authoredOn=case.created,
        note=notes,
    )


def _appointment(
    case: ClinicalCase, booked: BookedSlot, patient: Reference, request: Reference | None
) -> Appointment:
    return Appointment(
        identifier=[appointment_identifier(case.case_id)],  # one per case, however wrapped up
        status="booked",
        slot=[Reference(reference=booked.slot)],
        start=booked.start,
        end=booked.end,
        basedOn=[request] if request is not None else None,
        participant=[AppointmentParticipant(actor=patient, required="required", status="accepted")],
    )


def _entry(case: ClinicalCase, resource: Sent) -> BundleEntry:
    kind = resource.get_resource_type()
    [own] = resource.identifier or []
    return BundleEntry(
        fullUrl=full_url(case, kind),
        resource=resource,
        # Created only if no resource has its identifier: a replay creates nothing anew.
        request=BundleEntryRequest(
            method="POST", url=kind, ifNoneExist=f"identifier={own.system}|{own.value}"
        ),
    )


def bundle_for(case: ClinicalCase) -> Bundle:
    """The transaction Bundle for `case`: Patient, Encounter, ServiceRequest (and Appointment)."""
    patient = Reference(reference=full_url(case, "Patient"))
    encounter = Reference(reference=full_url(case, "Encounter"))
    request = Reference(reference=full_url(case, "ServiceRequest"))

    def resources() -> list[Sent]:
        made: list[Sent] = [
            _patient(case),
            _encounter(case, patient),
            _service_request(case, patient, encounter),
        ]
        if case.appointment is not None:
            made.append(_appointment(case, case.appointment, patient, request))
        return made

    return _validated(case, case.request_id, resources)


def booking_bundle_for(case: ClinicalCase) -> Bundle:
    """The booking made while the handler watches, before their wrap-up, under a request id of
    its own, `<case id>/booking`: the wrap-up's Appointment (the same identifier), which the
    wrap-up's Bundle then finds ("200 OK"), and a Patient of the booking's own (`<case
    id>/booking`). Were the Patient the wrap-up's, one held twice (a booking raced on a server
    whose conditional creates are not unique) would fail the whole wrap-up with a 412."""
    if case.request is not Request.WRAP_UP or case.appointment is None:
        raise InvalidBundle(f"a booking of case {case.case_id} is made for its wrap-up")
    booked = case.appointment
    patient = Reference(reference=full_url(case, "Patient"))

    def resources() -> list[Sent]:
        return [_patient(case, BOOKING_REQUEST), _appointment(case, booked, patient, None)]

    return _validated(case, f"{case.case_id}/{BOOKING_REQUEST}", resources)


def _validated(case: ClinicalCase, request_id: str, resources: Callable[[], list[Sent]]) -> Bundle:
    try:
        bundle = Bundle(
            meta=_contingency_meta(case),
            identifier=Identifier(system=CASE_ID_SYSTEM, value=request_id),
            type="transaction",
            entry=[_entry(case, resource) for resource in resources()],
        )
        # Construction checks each part; validating the whole again checks it as the receiver will.
        return Bundle.model_validate(bundle.model_dump(mode="json"))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise InvalidBundle(f"bundle for case {case.case_id} is invalid: {problems}") from None


def bundle_json(case: ClinicalCase) -> dict[str, Any]:
    """The Bundle as JSON-ready data, the body of `POST [base]`."""
    data: dict[str, Any] = bundle_for(case).model_dump(mode="json")
    return data


def booking_bundle_json(case: ClinicalCase) -> dict[str, Any]:
    data: dict[str, Any] = booking_bundle_for(case).model_dump(mode="json")
    return data
