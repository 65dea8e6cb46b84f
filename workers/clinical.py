"""The clinical case-management system (FHIR R4 over httpx), behind one narrow seam: cases sent
and the health probe (from worker jobs), free slots searched and one booked (from the console,
while a handler watches, within a short timeout).

Errors are translated here and logged with the case id (never a phone number):

    ClinicalError
    ├── ClinicalUnavailable   no connection, reset, timeout, 5xx, 408 or 429: the system is down or
    │                         failing; counts against its health; retry later
    └── ClinicalRejected      any other 4xx (and a 409 that is not a duplicate): our request is
        │                     wrong; does NOT count against its health; retrying will not help
        ├── SlotTaken         409 or 412 whose OperationOutcome says "conflict" or
        │                     "business-rule": the slot was booked by someone else meanwhile
        └── BookedElsewhere   a booking answered as made before (a duplicate), whose
                              Appointment holds another slot than the one asked for

A 409 whose OperationOutcome says "duplicate" is a delivery: the request id was received before
(a BaRS receiver). So is a transaction-response whose every entry is "200 OK": a server without
request ids found each resource of the request by its identifier (conditional create). A 412
"multiple-matches" is not: the transaction failed whole, so it is `ClinicalRejected`, for a person.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from routing.cases import SERVICE_TYPES, BookedSlot, ClinicalCase
from routing.models import Reason
from workers.fhir import (
    SERVICE_TYPE_SYSTEM,
    appointment_identifier,
    booking_bundle_json,
    bundle_json,
)

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# BaRS: 90% of requests under 2.1 s and all under 5 s (REFERENCE.md, "Interoperability").
SEND_TIMEOUT_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 1.5  # CLINICAL_PROBE_TIMEOUT_SECONDS in the probe job
# A slot search or a booking from the console: a handler is watching, with the caller on the line.
BOOKING_TIMEOUT_SECONDS = 2.0
# Answers that say "not now" rather than "not this": the server is overloaded or timed out.
TRANSIENT_4XX = frozenset({408, 429})


class ClinicalError(Exception):
    def __init__(self, message: str, case_id: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.status = status


class ClinicalUnavailable(ClinicalError):
    pass


class ClinicalRejected(ClinicalError):
    """`diagnostics` is the server's own text: kept off the message, as it may quote the case."""

    def __init__(
        self, message: str, case_id: str = "", status: int | None = None, diagnostics: str = ""
    ) -> None:
        super().__init__(message, case_id, status)
        self.diagnostics = diagnostics


class SlotTaken(ClinicalRejected):
    """The slot chosen was booked by someone else meanwhile: choose another."""


class BookedElsewhere(ClinicalRejected):
    """The case's booking was made before, for other `slots` than the one asked for now: it is
    not booked for the slot asked, and a person must see to it."""

    def __init__(self, message: str, case_id: str, slots: tuple[str, ...]) -> None:
        super().__init__(message, case_id)
        self.slots = slots


# What a server says when the slot of an Appointment is held already (the stub says `conflict`).
SLOT_TAKEN_CODES = frozenset({"conflict", "business-rule"})


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"


class Delivery(BaseModel):
    """The clinical system has the case: newly created, or already there (a replay)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    outcome: Outcome
    status: int
    locations: tuple[str, ...] = ()


class Probe(BaseModel):
    """One health probe: a down system is `healthy=False`, never an exception."""

    model_config = ConfigDict(frozen=True)

    healthy: bool
    latency_seconds: float
    detail: str
    status: int | None = None


class _Issue(BaseModel):
    code: str = ""
    diagnostics: str = ""


class _OperationOutcome(BaseModel):
    resource_type: Literal["OperationOutcome"] = Field(alias="resourceType")
    issue: list[_Issue] = []


class _EntryResponse(BaseModel):
    status: str
    location: str | None = None


class _ResponseEntry(BaseModel):
    response: _EntryResponse


class _TransactionResponse(BaseModel):
    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    type: Literal["transaction-response"]
    entry: list[_ResponseEntry] = []


class _Slot(BaseModel):
    resource_type: Literal["Slot"] = Field(alias="resourceType")
    id: str
    status: str
    start: AwareDatetime
    end: AwareDatetime


class _Reference(BaseModel):
    reference: str


class _Appointment(BaseModel):
    resource_type: Literal["Appointment"] = Field(alias="resourceType")
    status: str = ""
    slot: list[_Reference] = []


# An Appointment in these states holds no slot for the patient (FHIR R4 appointmentstatus).
NOT_HELD = frozenset({"cancelled", "entered-in-error"})


class _SearchEntry(BaseModel):
    resource: dict[str, Any] | None = None


class _Searchset(BaseModel):
    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    type: Literal["searchset"]
    entry: list[_SearchEntry] = []


class _Capability(BaseModel):
    resource_type: Literal["CapabilityStatement"] = Field(alias="resourceType")
    fhir_version: str = Field(default="", alias="fhirVersion")


def _outcome_of(response: httpx.Response) -> _OperationOutcome | None:
    try:
        return _OperationOutcome.model_validate_json(response.content)
    except ValidationError:
        return None


def _delivered(case_id: str, response: httpx.Response, what: str = "the case") -> Delivery:
    """What an answer to a transaction means: a delivery, or the error to raise."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            answer = _TransactionResponse.model_validate_json(response.content)
        except ValidationError:
            # It may well have stored the case: a replay is safe and will say so (409 duplicate).
            raise ClinicalUnavailable(
                f"answered {status} without a transaction-response", case_id, status
            ) from None
        locations = tuple(e.response.location for e in answer.entry if e.response.location)
        # A create answers 201; a conditional create that found its resource answers 200.
        found = [e.response.status.split()[0] == "200" for e in answer.entry if e.response.status]
        result = Outcome.DUPLICATE if found and all(found) else Outcome.CREATED
        return Delivery(case_id=case_id, outcome=result, status=status, locations=locations)
    issues = outcome.issue if (outcome := _outcome_of(response)) else []
    codes = [issue.code for issue in issues]
    if status == 409 and "duplicate" in codes:
        return Delivery(case_id=case_id, outcome=Outcome.DUPLICATE, status=status)
    raise _refusal(case_id, response, what)


def _refusal(case_id: str, response: httpx.Response, what: str) -> ClinicalError:
    """The error an answer other than a success (or a duplicate) is."""
    status = response.status_code
    if status >= 500 or status in TRANSIENT_4XX:
        return ClinicalUnavailable(f"answered {status}", case_id, status)
    issues = outcome.issue if (outcome := _outcome_of(response)) else []
    codes = [issue.code for issue in issues]
    diagnostics = "; ".join(issue.diagnostics for issue in issues if issue.diagnostics)
    summary = f"refused {what}: {status} ({','.join(codes) or 'no OperationOutcome'})"
    if status in (409, 412) and SLOT_TAKEN_CODES.intersection(codes):
        return SlotTaken(summary, case_id, status, diagnostics)
    if status == 412 and "multiple-matches" in codes:
        # A resource of the request is held more than once (conditional creates that raced), so
        # the transaction failed whole: nothing of it was stored, the handler's notes included.
        # Which of its entries exist is not known, so it is no delivery: a person must act.
        return ClinicalRejected(
            f"{summary}: a resource of it is held more than once, so nothing of it was stored",
            case_id,
            status,
            diagnostics,
        )
    return ClinicalRejected(summary, case_id, status, diagnostics)


def _free(case_id: str, response: httpx.Response, count: int) -> list[BookedSlot]:
    """The free slots a searchset lists, earliest first; one that cannot be booked (an id that is
    no FHIR id, a slot that is not free) is left out."""
    try:
        answer = _Searchset.model_validate_json(response.content)
    except ValidationError:
        raise ClinicalUnavailable("answered 200 without a searchset", case_id, 200) from None
    found: list[BookedSlot] = []
    for entry in answer.entry:
        if not entry.resource or entry.resource.get("resourceType") != "Slot":
            continue  # an OperationOutcome of the search, or a resource it included
        try:
            slot = _Slot.model_validate(entry.resource)
            free = BookedSlot(slot=f"Slot/{slot.id}", start=slot.start, end=slot.end)
        except ValidationError:
            log.warning("a slot that cannot be booked left out", extra={"case_id": case_id})
            continue
        if slot.status == "free":
            found.append(free)
    return sorted(found, key=lambda slot: (slot.start, slot.slot))[:count]


def _slots_held(case_id: str, response: httpx.Response) -> tuple[str, ...]:
    """The slots (`Slot/<id>`) the Appointments of a searchset hold, as they reference them."""
    try:
        answer = _Searchset.model_validate_json(response.content)
    except ValidationError:
        raise ClinicalUnavailable("answered 200 without a searchset", case_id, 200) from None
    held: list[str] = []
    for entry in answer.entry:
        if not entry.resource or entry.resource.get("resourceType") != "Appointment":
            continue
        try:
            appointment = _Appointment.model_validate(entry.resource)
        except ValidationError:
            continue
        if appointment.status not in NOT_HELD:
            held.extend(_slot_of(slot.reference) for slot in appointment.slot)
    return tuple(held)


def _slot_of(reference: str) -> str:
    """`Slot/<id>`, from a literal reference, relative or absolute."""
    return "Slot/" + reference.rsplit("Slot/", 1)[-1] if "Slot/" in reference else reference


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _logged(error: ClinicalError, what: str = "case") -> ClinicalError:
    log.warning("%s not delivered: %s", what, error, extra={"case_id": error.case_id})
    return error


class ClinicalSystem:
    """The FHIR endpoint at `base_url` (e.g. http://127.0.0.1:8020/fhir), over `client`."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float = SEND_TIMEOUT_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
        booking_timeout: float = BOOKING_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.booking_timeout = booking_timeout

    async def probe(self) -> Probe:
        """`GET [base]/metadata`: healthy when it answers a CapabilityStatement in time."""
        started = time.perf_counter()

        def result(healthy: bool, detail: str, status: int | None = None) -> Probe:
            latency = round(time.perf_counter() - started, 4)
            return Probe(healthy=healthy, latency_seconds=latency, detail=detail, status=status)

        try:
            async with asyncio.timeout(self.probe_timeout):
                response = await self.client.get(
                    f"{self.base_url}/metadata",
                    headers={"Accept": FHIR_JSON},
                    timeout=self.probe_timeout,
                )
        except (TimeoutError, httpx.TimeoutException):
            return result(False, f"no answer within {self.probe_timeout:g} s")
        except httpx.TransportError as error:
            return result(False, f"unreachable: {type(error).__name__}")
        if response.status_code != 200:
            return result(False, f"answered {response.status_code}", response.status_code)
        try:
            capability = _Capability.model_validate_json(response.content)
        except ValidationError:
            return result(False, "answered 200 without a CapabilityStatement", 200)
        return result(True, f"CapabilityStatement, FHIR {capability.fhir_version or '?'}", 200)

    async def send(self, case: ClinicalCase) -> Delivery:
        """POST the case's transaction Bundle; a replay of a delivered case is a "duplicate"."""
        return await self._transact(case.case_id, bundle_json(case), self.timeout, "case")

    async def book(self, case: ClinicalCase) -> Delivery:
        """Book the slot of `case` (the wrap-up of a booking) now, within `booking_timeout`: its
        Patient and Appointment, as the wrap-up will carry them. `SlotTaken` if someone else has
        it; `ClinicalUnavailable` when no answer came (it may have been booked: book it again,
        and a replay is found, not booked twice). A booking found made before is read back:
        `BookedElsewhere` if its Appointment holds another slot."""
        booking = booking_bundle_json(case)
        delivery = await self._transact(case.case_id, booking, self.booking_timeout, "booking")
        if delivery.outcome is Outcome.DUPLICATE:
            # Made before: perhaps for another slot, by a try whose answer never came.
            await self._booked_for(case)
        return delivery

    async def _booked_for(self, case: ClinicalCase) -> None:
        """The case's Appointment holds the slot `case` asks for, or `BookedElsewhere`
        (`ClinicalUnavailable` when the search is not answered)."""
        assert case.appointment is not None  # a booking's, checked by its model
        slots = await self.appointment_slots(case.case_id)
        if case.appointment.slot not in slots:
            raise _logged(
                BookedElsewhere(
                    f"the case's appointment was made before and is booked for another slot "
                    f"({', '.join(slots) or 'none found'}), not {case.appointment.slot}",
                    case.case_id,
                    slots,
                ),
                "booking",
            )

    async def appointment_slots(self, case_id: str) -> tuple[str, ...]:
        """`GET [base]/Appointment?identifier=...`: the slots the case's Appointment holds, none
        if it has none, within `booking_timeout` (`ClinicalUnavailable` if no answer came,
        `ClinicalRejected` if refused)."""
        own = appointment_identifier(case_id)
        search = self.client.build_request(
            "GET",
            f"{self.base_url}/Appointment",
            params={"identifier": f"{own.system}|{own.value}"},
            headers={"Accept": FHIR_JSON},
            timeout=self.booking_timeout,
        )
        try:
            response = await self._exchange(case_id, search, self.booking_timeout)
            if response.status_code != 200:
                raise _refusal(case_id, response, "the appointment search")
            return _slots_held(case_id, response)
        except ClinicalError as error:
            raise _logged(error, "booking") from None

    async def free_slots(
        self, reason: Reason, after: datetime, count: int, case_id: str = ""
    ) -> list[BookedSlot]:
        """`GET [base]/Slot`: the free slots of the service `reason` needs, from `after`, earliest
        first, at most `count`, within `booking_timeout`."""
        params = {
            "status": "free",
            "start": f"ge{_instant(after)}",
            "service-type": f"{SERVICE_TYPE_SYSTEM}|{SERVICE_TYPES[reason].value}",
            "_count": str(count),
        }
        try:
            search = self.client.build_request(
                "GET",
                f"{self.base_url}/Slot",
                params=params,
                headers={"Accept": FHIR_JSON},
                timeout=self.booking_timeout,
            )
            response = await self._exchange(case_id, search, self.booking_timeout)
            if response.status_code != 200:
                raise _refusal(case_id, response, "the slot search")
            return _free(case_id, response, count)
        except ClinicalError as error:
            log.warning("slot search failed: %s", error, extra={"case_id": case_id})
            raise

    async def _transact(
        self, case_id: str, bundle: dict[str, Any], within: float, what: str
    ) -> Delivery:
        """POST a transaction Bundle: `what` it is (a case, a booking) says the log."""
        body = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        request = self.client.build_request(
            "POST", self.base_url, content=body.encode(), headers=headers, timeout=within
        )
        try:
            answer = await self._exchange(case_id, request, within)
            delivery = _delivered(case_id, answer, f"the {what}")
        except ClinicalError as error:
            raise _logged(error, what) from None
        log.info(
            "%s delivered: %s (%d)",
            what,
            delivery.outcome.value,
            delivery.status,
            extra={"case_id": case_id},
        )
        return delivery

    async def _exchange(
        self, case_id: str, request: httpx.Request, within: float
    ) -> httpx.Response:
        """One request answered within `within` seconds, connecting included, or else
        `ClinicalUnavailable`."""
        try:
            async with asyncio.timeout(within):
                return await self.client.send(request)
        except (TimeoutError, httpx.TimeoutException):
            raise ClinicalUnavailable(f"no answer within {within:g} s", case_id) from None
        except httpx.TransportError as error:
            raise ClinicalUnavailable(f"unreachable: {type(error).__name__}", case_id) from None
