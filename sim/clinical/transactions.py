"""What `POST [base]` accepts: a FHIR transaction Bundle, its request id in Bundle.identifier.

Malformed (not JSON, not FHIR, a broken structure) is 400; well-formed but not a transaction this
server can take (another resource, another Bundle type, no request id, a dangling reference) is 422.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from fhir.resources.R4B.bundle import Bundle
from pydantic import JsonValue, ValidationError

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
class Transaction:
    case_id: str
    resource_types: tuple[str, ...]  # one per entry, in order


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


def transaction_of(data: JsonValue) -> Transaction:
    """The transaction in `data`, or `Invalid` saying what is wrong with it."""
    bundle = _structure(data)
    if bundle.type != "transaction":
        raise Invalid(422, f"Bundle.type must be transaction, not {bundle.type}")
    identifier = bundle.identifier
    if identifier is None or identifier.system != CASE_ID_SYSTEM or not identifier.value:
        raise Invalid(422, f"no Bundle.identifier with system {CASE_ID_SYSTEM} (the request id)")
    if not bundle.entry:
        raise Invalid(422, "the transaction has no entries")
    kinds: list[str] = []
    full_urls = {entry.fullUrl for entry in bundle.entry if entry.fullUrl}
    for index, entry in enumerate(bundle.entry):
        where = f"Bundle.entry[{index}]"
        if entry.resource is None or entry.request is None:
            raise Invalid(422, f"{where} needs both a resource and a request")
        kind = entry.resource.get_resource_type()
        if entry.request.method != "POST":
            raise Invalid(422, f"{where}.request.method: only POST (create) is supported")
        if entry.request.url != kind:
            raise Invalid(422, f"{where}.request.url must be {kind}, the resource's type")
        kinds.append(kind)
    assert isinstance(data, dict)  # _structure checked it
    for reference in references(data.get("entry")):
        if reference.startswith("urn:uuid:") and reference not in full_urls:
            raise Invalid(422, f"reference {reference} does not resolve within the Bundle")
    return Transaction(case_id=identifier.value, resource_types=tuple(kinds))
