"""What `POST [base]` accepts: a FHIR transaction Bundle of creates, its request id in
Bundle.identifier, each create conditional or not (`ifNoneExist`, by identifier).

Malformed (not JSON, not FHIR, a broken structure, a search this server cannot do) is 400;
well-formed but not a transaction this server can take (another resource, another Bundle type,
no request id where one is required, a dangling reference) is 422.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fhir.resources.R4B.bundle import Bundle
from pydantic import JsonValue, ValidationError

from sim.clinical.schema import R4Schema
from sim.clinical.store import Token

CASE_ID_SYSTEM = "https://lifeline.nhs.example/case-id"
MAX_BODY_BYTES = 1_000_000
FHIR_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})


class Invalid(Exception):
    """The request cannot be taken: answered `status` with an OperationOutcome of `code`."""

    def __init__(self, status: int, diagnostics: str, code: str = "invalid") -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code


@dataclass(frozen=True)
class Entry:
    resource_type: str
    identifiers: tuple[tuple[str, str], ...]  # (system, value), the system "" if none
    if_none_exist: Token | None  # a conditional create: only if no such resource exists
    booking: Booking | None = None  # an Appointment's


@dataclass(frozen=True)
class Booking:
    """What an Appointment says of the slots it is for."""

    status: str
    slots: tuple[str, ...]  # literal references, as sent
    start: str
    end: str


@dataclass(frozen=True)
class Transaction:
    case_id: str | None  # the request id, Bundle.identifier (none only where not required)
    entries: tuple[Entry, ...]  # in order


def read_json(content_type: str, body: bytes) -> JsonValue:
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in FHIR_MEDIA_TYPES:
        raise Invalid(415, f"send application/fhir+json, not {media_type or 'no Content-Type'}")
    if len(body) > MAX_BODY_BYTES:
        raise Invalid(413, f"body over {MAX_BODY_BYTES} bytes", code="too-costly")
    try:
        data: JsonValue = json.loads(body)
    except ValueError as error:
        raise Invalid(400, f"body is not JSON: {error}") from None
    return data


def case_id_in(data: JsonValue) -> str | None:
    """The request id, if the body carries one where a Bundle would (for records, before checks)."""
    if not isinstance(data, dict) or not isinstance(identifier := data.get("identifier"), dict):
        return None
    value = identifier.get("value")
    if identifier.get("system") != CASE_ID_SYSTEM or not isinstance(value, str):
        return None
    return value


def references(data: JsonValue) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(data, list):
        for item in data:
            yield from references(item)


def _structure(data: JsonValue) -> Bundle:
    if not isinstance(data, dict):
        raise Invalid(400, "body is not a JSON object")
    kind = data.get("resourceType")
    if not isinstance(kind, str) or not kind:
        raise Invalid(400, "body is not a FHIR resource: no resourceType")
    if kind != "Bundle":
        raise Invalid(422, f"POST [base] takes a transaction Bundle, not a {kind}")
    try:
        return Bundle.model_validate(data)
    except ValidationError as error:
        # Locations and messages only: the input may hold patient data.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)[:10]
        )
        raise Invalid(400, f"Bundle is not valid FHIR: {problems}") from None


def identifiers_of(resource: JsonValue) -> tuple[tuple[str, str], ...]:
    """A resource's business identifiers (`identifier` is a list in most resources, one in some)."""
    found = resource.get("identifier") if isinstance(resource, dict) else None
    listed = found if isinstance(found, list) else [found]
    return tuple(
        (str(item.get("system") or ""), str(item["value"]))
        for item in listed
        if isinstance(item, dict) and isinstance(item.get("value"), str)
    )


def booking_of(resource: JsonValue) -> Booking | None:
    if not isinstance(resource, dict) or resource.get("resourceType") != "Appointment":
        return None
    slots = resource.get("slot")
    references = tuple(
        str(item["reference"])
        for item in (slots if isinstance(slots, list) else [])
        if isinstance(item, dict) and isinstance(item.get("reference"), str)
    )
    return Booking(
        status=str(resource.get("status", "")),
        slots=references,
        start=str(resource.get("start", "")),
        end=str(resource.get("end", "")),
    )


def condition_of(query: str, where: str) -> Token:
    """`ifNoneExist` is a search's query string; this server searches by identifier only."""
    params = parse_qsl(query, keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier":
        raise Invalid(
            400,
            f"{where}.request.ifNoneExist: only identifier=[system|]value is supported",
            code="not-supported",
        )
    system, bar, value = params[0][1].partition("|")
    token = Token(value=value, system=system) if bar else Token(value=system)
    if not token.value:
        raise Invalid(400, f"{where}.request.ifNoneExist: the identifier has no value")
    return token


def transaction_of(
    data: JsonValue, request_id_required: bool = True, schema: R4Schema | None = None
) -> Transaction:
    """The transaction in `data`, or `Invalid` saying what is wrong with it; checked against the
    R4 JSON `schema` too, when given (fhir.resources' models are R4B's)."""
    bundle = _structure(data)
    if schema is not None and (problems := schema.problems(data)):
        raise Invalid(400, f"Bundle does not match the FHIR R4 schema: {'; '.join(problems)}")
    if bundle.type != "transaction":
        raise Invalid(422, f"Bundle.type must be transaction, not {bundle.type}")
    case_id = case_id_in(data) or None
    if case_id is None and request_id_required:
        raise Invalid(422, f"no Bundle.identifier with system {CASE_ID_SYSTEM} (the request id)")
    if not bundle.entry:
        raise Invalid(422, "the transaction has no entries")
    assert isinstance(data, dict)  # _structure checked it
    raw = data.get("entry")
    assert isinstance(raw, list)
    entries: list[Entry] = []
    full_urls = {entry.fullUrl for entry in bundle.entry if entry.fullUrl}
    for index, (entry, as_sent) in enumerate(zip(bundle.entry, raw, strict=True)):
        where = f"Bundle.entry[{index}]"
        if entry.resource is None or entry.request is None:
            raise Invalid(422, f"{where} needs both a resource and a request")
        kind = entry.resource.get_resource_type()
        if entry.request.method != "POST":
            raise Invalid(422, f"{where}.request.method: only POST (create) is supported")
        if entry.request.url != kind:
            raise Invalid(422, f"{where}.request.url must be {kind}, the resource's type")
        query = entry.request.ifNoneExist
        condition = condition_of(query, where) if query is not None else None
        resource = as_sent.get("resource") if isinstance(as_sent, dict) else None
        entries.append(Entry(kind, identifiers_of(resource), condition, booking_of(resource)))
    for reference in references(data.get("entry")):
        if reference.startswith("urn:uuid:") and reference not in full_urls:
            raise Invalid(422, f"reference {reference} does not resolve within the Bundle")
    return Transaction(case_id=case_id, entries=tuple(entries))
