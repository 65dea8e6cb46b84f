"""The FHIR JSON the stub answers: CapabilityStatement, OperationOutcome, transaction-response,
searchset."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import JsonValue
from starlette.responses import JSONResponse

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"

Json = dict[str, JsonValue]


def instant(seconds: float) -> str:
    """A FHIR instant (UTC, milliseconds) from seconds since the epoch."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def capability_statement(now: float, base_url: str) -> Json:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now)[:10],
        "kind": "instance",
        "software": {"name": "lifeline-sim clinical"},
        "implementation": {"description": "Clinical case-management system stub", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Slot",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [
                            {"name": "start", "type": "date"},
                            {"name": "status", "type": "token"},
                            {"name": "service-type", "type": "token"},
                        ],
                    }
                ],
                "interaction": [{"code": "transaction"}],
            }
        ],
    }


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> Json:
    issue: Json = {"severity": severity, "code": code, "diagnostics": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def failing_outcome() -> Json:
    return operation_outcome("transient", "the clinical system is failing (fault: errors)")


def transaction_response(bundle_id: str, responses: list[tuple[str, str]], now: float) -> Json:
    """One entry per request entry, in order: (location, status) each, "201 Created" for a new
    resource, "200 OK" for one a conditional create found."""
    entries: list[JsonValue] = [
        {
            "response": {
                "status": status,
                "location": location,
                "etag": 'W/"1"',
                "lastModified": instant(now),
            }
        }
        for location, status in responses
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "transaction-response",
        "timestamp": instant(now),
        "entry": entries,
    }


def searchset(
    bundle_id: str, url: str, total: int, found: list[tuple[str, Json]], now: float
) -> Json:
    """A search's answer: `total` matches, of which `found` ((fullUrl, resource) each) here."""
    entries: list[JsonValue] = [
        {"fullUrl": full_url, "resource": resource, "search": {"mode": "match"}}
        for full_url, resource in found
    ]
    answer: Json = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": instant(now)},
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": url}],
    }
    if entries:
        answer["entry"] = entries  # FHIR: an element is absent rather than empty
    return answer


def fhir_response(body: Json, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)
