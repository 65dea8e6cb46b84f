"""The stub's memory and rules: which request ids it holds, what it received, how it answers."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, JsonValue

from sim.clinical.faults import Faults, Mode, Wall
from sim.clinical.resources import (
    Json,
    failing_outcome,
    instant,
    operation_outcome,
    transaction_response,
)
from sim.clinical.transactions import Invalid, case_id_in, read_json, transaction_of

RECORD_LIMIT = 100_000


@dataclass(frozen=True)
class Answer:
    status: int
    body: Json


class Received(BaseModel):
    """One `POST [base]` as it arrived and as it was answered."""

    model_config = ConfigDict(frozen=True)

    at: str
    case_id: str | None
    status: int
    outcome: str  # created | duplicate | invalid | unavailable
    answer: JsonValue
    bundle: JsonValue  # the body as parsed; null when it was not JSON


OUTCOMES = {200: "created", 409: "duplicate", 503: "unavailable"}


class Stub:
    """In memory and bounded: the oldest request ids and records go first past `limit`."""

    def __init__(self, wall: Wall, base_url: str, limit: int = RECORD_LIMIT) -> None:
        self.wall = wall
        self.base_url = base_url
        self.faults = Faults(wall)
        self.limit = limit
        self.received: deque[Received] = deque(maxlen=limit)
        self._cases: dict[str, list[str]] = {}

    def transact(self, content_type: str, body: bytes) -> Answer:
        """Answer a transaction under the fault in force, and record it whatever the answer."""
        failing = Answer(503, failing_outcome()) if self.faults.now() is Mode.ERRORS else None
        data: JsonValue = None
        try:
            data = read_json(content_type, body)
            answer = failing or self._take(data)
        except Invalid as invalid:
            outcome = operation_outcome(invalid.code, invalid.diagnostics)
            answer = failing or Answer(invalid.status, outcome)
        self.received.append(
            Received(
                at=instant(self.wall()),
                case_id=case_id_in(data),
                status=answer.status,
                outcome=OUTCOMES.get(answer.status, "invalid"),
                answer=answer.body,
                bundle=data,
            )
        )
        return answer

    def _take(self, data: JsonValue) -> Answer:
        transaction = transaction_of(data)
        case_id = transaction.case_id
        if self.faults.now() is Mode.DUPLICATES or case_id in self._cases:
            # What NHS BaRS answers to a replay of the same request id.
            diagnostics = f"request {case_id} has already been received"
            return Answer(409, operation_outcome("duplicate", diagnostics))
        locations = [f"{kind}/{uuid.uuid4()}/_history/1" for kind in transaction.resource_types]
        self._cases[case_id] = locations
        if len(self._cases) > self.limit:
            del self._cases[next(iter(self._cases))]
        return Answer(200, transaction_response(str(uuid.uuid4()), locations, self.wall()))

    def records(self, case_id: str | None = None) -> list[Received]:
        return [item for item in self.received if case_id is None or item.case_id == case_id]

    def clear(self, cases: bool) -> None:
        self.received.clear()
        if cases:
            self._cases.clear()
