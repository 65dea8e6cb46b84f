"""The stub's memory and rules: which request ids and resources it holds, what it received, how
it answers: as an NHS BaRS receiver (a repeated request id is 409) or as a plain FHIR server."""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, JsonValue

from sim.clinical.faults import Faults, Mode, Wall
from sim.clinical.resources import (
    Json,
    failing_outcome,
    instant,
    operation_outcome,
    transaction_response,
)
from sim.clinical.schema import R4Schema
from sim.clinical.store import Held, Store
from sim.clinical.transactions import Invalid, Transaction, case_id_in, read_json, transaction_of

RECORD_LIMIT = 100_000


class Kind(StrEnum):
    """How the server knows a request it has had before. Both honour conditional creates."""

    BARS = "bars"  # Bundle.identifier required; the same again is 409 duplicate (NHS BaRS)
    PLAIN = "plain"  # a stock FHIR R4 server: Bundle.identifier ignored, never a 409


@dataclass(frozen=True)
class Answer:
    status: int
    body: Json
    outcome: str  # created | duplicate | invalid | unavailable


class Received(BaseModel):
    """One `POST [base]` as it arrived and as it was answered."""

    model_config = ConfigDict(frozen=True)

    at: str
    case_id: str | None
    status: int
    outcome: str  # created | duplicate | invalid | unavailable
    answer: JsonValue
    bundle: JsonValue  # the body as parsed; null when it was not JSON


class Stub:
    """In memory and bounded: the oldest request ids, resources and records go first past
    `limit`. `schema`, when set, is checked against every Bundle received."""

    def __init__(self, wall: Wall, base_url: str, limit: int = RECORD_LIMIT) -> None:
        self.wall = wall
        self.base_url = base_url
        self.faults = Faults(wall)
        self.limit = limit
        self.kind = Kind.BARS
        self.schema: R4Schema | None = None
        self.received: deque[Received] = deque(maxlen=limit)
        self.resources = Store(limit)
        self._requests: OrderedDict[str, None] = OrderedDict()

    def transact(self, content_type: str, body: bytes) -> Answer:
        """Answer a transaction under the fault in force, and record it whatever the answer."""
        failing = (
            Answer(503, failing_outcome(), "unavailable")
            if self.faults.now() is Mode.ERRORS
            else None
        )
        data: JsonValue = None
        try:
            data = read_json(content_type, body)
            answer = failing or self._take(data)
        except Invalid as invalid:
            outcome = operation_outcome(invalid.code, invalid.diagnostics)
            answer = failing or Answer(invalid.status, outcome, "invalid")
        self.received.append(
            Received(
                at=instant(self.wall()),
                case_id=case_id_in(data),
                status=answer.status,
                outcome=answer.outcome,
                answer=answer.body,
                bundle=data,
            )
        )
        return answer

    def _take(self, data: JsonValue) -> Answer:
        transaction = transaction_of(data, self.kind is Kind.BARS, self.schema)
        request_id = transaction.case_id
        if self.faults.now() is Mode.DUPLICATES or (
            self.kind is Kind.BARS and request_id in self._requests
        ):
            # What NHS BaRS answers to a replay of the same request id.
            diagnostics = f"request {request_id or '(no id)'} has already been received"
            return Answer(409, operation_outcome("duplicate", diagnostics), "duplicate")
        existing = self._conditions(transaction)
        if isinstance(existing, Answer):
            return existing
        responses = [
            (held.location, "200 OK")
            if held is not None
            else (
                self.resources.create(entry.resource_type, entry.identifiers).location,
                "201 Created",
            )
            for entry, held in zip(transaction.entries, existing, strict=True)
        ]
        if request_id is not None:
            self._requests[request_id] = None
            if len(self._requests) > self.limit:
                self._requests.popitem(last=False)
        created = any(status.startswith("201") for _, status in responses)
        body = transaction_response(str(uuid.uuid4()), responses, self.wall())
        return Answer(200, body, "created" if created else "duplicate")

    def _conditions(self, transaction: Transaction) -> list[Held | None] | Answer:
        """Each conditional create's match (None: create it), all before anything is created:
        a transaction succeeds or fails whole. More than one match fails it (412), as in FHIR."""
        found: list[Held | None] = []
        for index, entry in enumerate(transaction.entries):
            token = entry.if_none_exist
            matches = self.resources.search(entry.resource_type, token) if token else []
            if len(matches) > 1:
                diagnostics = (
                    f"Bundle.entry[{index}].request.ifNoneExist matches {len(matches)} "
                    f"{entry.resource_type} resources"
                )
                return Answer(412, operation_outcome("multiple-matches", diagnostics), "invalid")
            found.append(matches[0] if matches else None)
        return found

    def records(self, case_id: str | None = None) -> list[Received]:
        return [item for item in self.received if case_id is None or item.case_id == case_id]

    def clear(self, cases: bool) -> None:
        """Forget what was received; with `cases`, the request ids and resources too."""
        self.received.clear()
        if cases:
            self._requests.clear()
            self.resources.clear()

    def reset(self) -> None:
        """As started, but for the schema check: how the stub is being run, not what it met."""
        self.clear(cases=True)
        self.kind = Kind.BARS
