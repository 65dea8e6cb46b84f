"""The clinical-system stub on free ports (uvicorn in a thread), checking every Bundle it receives
against the FHIR R4 JSON schema; a client for its control API; and hand-made transaction
Bundles for the tests that drive it directly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from sim.clinical.app import ClinicalConfig, create_app
from sim.clinical.faults import Wall
from tests.fhir_r4 import SCHEMA_PATH
from tests.sim.servers import DEADLINE, free_port, serve

CASE_ID_SYSTEM = "https://lifeline.nhs.example/case-id"
SERVICE_TYPE_SYSTEM = "https://lifeline.nhs.example/service-type"
APPOINTMENT_SYSTEM = "https://lifeline.nhs.example/appointment-id"
FHIR_JSON = "application/fhir+json"


class ManualWall:
    """A wall clock that moves only when told to (flapping phases without waiting)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class StubControl:
    """The control API, synchronously; `fhir` is a client for the FHIR API itself."""

    def __init__(self, fhir_base_url: str, control_url: str) -> None:
        self.fhir_base_url = fhir_base_url
        self.control = httpx.Client(base_url=control_url, timeout=DEADLINE, trust_env=False)
        self.fhir = httpx.Client(timeout=DEADLINE, trust_env=False)

    def close(self) -> None:
        self.control.close()
        self.fhir.close()

    def fault(self, mode: str, **options: float) -> dict[str, Any]:
        response = self.control.put("/control/fault", json={"mode": mode, **options})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def fault_state(self) -> dict[str, Any]:
        body: dict[str, Any] = self.control.get("/control/fault").raise_for_status().json()
        return body

    def received(self, case_id: str | None = None) -> list[dict[str, Any]]:
        path = "/control/received" if case_id is None else f"/control/received/{case_id}"
        records: list[dict[str, Any]] = self.control.get(path).raise_for_status().json()["received"]
        return records

    def reset(self) -> None:
        """Fault `up`, a BaRS server, nothing received or held (the schema check stays)."""
        self.control.post("/control/reset").raise_for_status()

    def server(self, kind: str) -> None:
        """`bars` (a repeated request id is 409) or `plain` (a stock FHIR server)."""
        self.control.put("/control/server", json={"kind": kind}).raise_for_status()

    def check_r4(self, schema: Path | None = SCHEMA_PATH) -> None:
        """Refuse (400) every Bundle that does not pass the R4 JSON schema; None: stop checking."""
        body = {"r4_schema": str(schema) if schema else None}
        self.control.put("/control/checks", json=body).raise_for_status()

    def resources(self, resource_type: str | None = None) -> list[dict[str, Any]]:
        """What the server holds (type, id, identifiers), oldest first."""
        params = {"type": resource_type} if resource_type else {}
        found = self.control.get("/control/resources", params=params).raise_for_status().json()
        held: list[dict[str, Any]] = found["resources"]
        return held

    def slots(self) -> list[dict[str, Any]]:
        """Every slot the server has, by start: id, service type, times, status, and the
        Appointment that holds it (null while free)."""
        found: dict[str, Any] = self.control.get("/control/slots").raise_for_status().json()
        slots: list[dict[str, Any]] = found["slots"]
        return slots

    def set_slots(self, *slots: dict[str, Any]) -> None:
        """Replace the server's slots (each free): `{"id", "service_type", "start", "end"}`."""
        response = self.control.put("/control/slots", json={"slots": list(slots)})
        assert response.status_code == 200, response.text

    def search_slots(
        self, params: list[tuple[str, str]], client: httpx.Client | None = None
    ) -> httpx.Response:
        """`GET [base]/Slot?...`, the parameters in order (a name may come twice)."""
        return (client or self.fhir).get(f"{self.fhir_base_url}/Slot", params=tuple(params))

    def post_transaction(self, body: object, client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.fhir).post(
            self.fhir_base_url, json=body, headers={"Content-Type": FHIR_JSON}
        )

    def metadata(self, client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.fhir).get(f"{self.fhir_base_url}/metadata")


@contextmanager
def running_stub(wall: Wall = time.time) -> Iterator[StubControl]:
    config = ClinicalConfig(fhir_port=free_port())
    with serve(create_app(config, wall), free_port()) as control_url:
        stub = StubControl(config.fhir_base_url, control_url)
        try:
            stub.check_r4()
            yield stub
        finally:
            stub.close()


def transaction(case_id: str = "7K2QX-M9D4A", **changes: Any) -> dict[str, Any]:
    """A small valid transaction: a Patient and a ServiceRequest that refers to it."""
    patient = "urn:uuid:5f0c1b7e-0000-5000-8000-000000000001"
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "identifier": {"system": CASE_ID_SYSTEM, "value": case_id},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient,
                "resource": {
                    "resourceType": "Patient",
                    "telecom": [{"system": "phone", "value": "+447700900123"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:5f0c1b7e-0000-5000-8000-000000000002",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "subject": {"reference": patient},
                },
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
        ],
    }
    bundle.update(changes)
    return bundle


def slot(slot_id: str, service: str, start: str, end: str) -> dict[str, str]:
    """A slot as `PUT /control/slots` takes it."""
    return {"id": slot_id, "service_type": service, "start": start, "end": end}


def booking(
    request_id: str,
    slot_reference: str,
    start: str,
    end: str,
    appointment_id: str | None = None,
    status: str = "booked",
) -> dict[str, Any]:
    """A transaction that books one slot: a Patient and an Appointment for it, the Appointment
    a conditional create on `appointment_id` (when given), as Lifeline's console sends it."""
    patient = "urn:uuid:5f0c1b7e-0000-5000-8000-0000000000a1"
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": status,
        "slot": [{"reference": slot_reference}],
        "start": start,
        "end": end,
        "participant": [
            {"actor": {"reference": patient}, "required": "required", "status": "accepted"}
        ],
    }
    request: dict[str, Any] = {"method": "POST", "url": "Appointment"}
    if appointment_id is not None:
        appointment["identifier"] = [{"system": APPOINTMENT_SYSTEM, "value": appointment_id}]
        request["ifNoneExist"] = f"identifier={APPOINTMENT_SYSTEM}|{appointment_id}"
    return {
        "resourceType": "Bundle",
        "identifier": {"system": CASE_ID_SYSTEM, "value": request_id},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient,
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:5f0c1b7e-0000-5000-8000-0000000000a2",
                "resource": appointment,
                "request": request,
            },
        ],
    }
