"""The clinical case-management system (FHIR R4 over httpx), behind one narrow seam.

Errors are translated here and logged with the case id (never a phone number):

    ClinicalError
    ├── ClinicalUnavailable   no connection, reset, timeout, 5xx, 408 or 429: the system is down or
    │                         failing; counts against its health; retry later
    └── ClinicalRejected      any other 4xx (and a 409 that is not a duplicate): our request is
                              wrong; does NOT count against its health; retrying will not help

A 409 whose OperationOutcome says "duplicate" is a delivery: the request id was received before
(a BaRS receiver). So is a transaction-response whose every entry is "200 OK": a server without
request ids found each resource of the request by its identifier (conditional create).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from enum import StrEnum
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workers.fhir import ClinicalCase, bundle_json

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# BaRS: 90% of requests under 2.1 s and all under 5 s (REFERENCE.md, "Interoperability").
SEND_TIMEOUT_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 1.5  # CLINICAL_PROBE_TIMEOUT_SECONDS in the probe job
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


class _Capability(BaseModel):
    resource_type: Literal["CapabilityStatement"] = Field(alias="resourceType")
    fhir_version: str = Field(default="", alias="fhirVersion")


def _outcome_of(response: httpx.Response) -> _OperationOutcome | None:
    try:
        return _OperationOutcome.model_validate_json(response.content)
    except ValidationError:
        return None


def _delivered(case_id: str, response: httpx.Response) -> Delivery:
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
    if status >= 500 or status in TRANSIENT_4XX:
        raise ClinicalUnavailable(f"answered {status}", case_id, status)
    diagnostics = "; ".join(issue.diagnostics for issue in issues if issue.diagnostics)
    summary = f"refused the case: {status} ({','.join(codes) or 'no OperationOutcome'})"
    raise ClinicalRejected(summary, case_id, status, diagnostics)


def _logged(error: ClinicalError) -> ClinicalError:
    log.warning("case not delivered: %s", error, extra={"case_id": error.case_id})
    return error


class ClinicalSystem:
    """The FHIR endpoint at `base_url` (e.g. http://127.0.0.1:8020/fhir), over `client`."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float = SEND_TIMEOUT_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.probe_timeout = probe_timeout

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
        body = json.dumps(bundle_json(case), separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.post(
                    self.base_url, content=body.encode(), headers=headers, timeout=self.timeout
                )
        except (TimeoutError, httpx.TimeoutException):
            timed_out = ClinicalUnavailable(f"no answer within {self.timeout:g} s", case.case_id)
            raise _logged(timed_out) from None
        except httpx.TransportError as error:
            raise _logged(
                ClinicalUnavailable(f"unreachable: {type(error).__name__}", case.case_id)
            ) from None
        try:
            delivery = _delivered(case.case_id, response)
        except ClinicalError as error:
            _logged(error)
            raise
        log.info(
            "case delivered: %s (%d)",
            delivery.outcome.value,
            delivery.status,
            extra={"case_id": case.case_id},
        )
        return delivery
