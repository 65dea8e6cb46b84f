"""The stub's memory and rules: which request ids, resources and booked slots it holds, what it
received, how it answers: as an NHS BaRS receiver (a repeated request id is 409) or as a plain
FHIR server; either way a slot is booked once."""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, JsonValue

from sim.clinical.faults import Faults, Mode, Wall
from sim.clinical.resources import (
    Json,
    failing_outcome,
    instant,
    operation_outcome,
    searchset,
    transaction_response,
)
from sim.clinical.schema import R4Schema
from sim.clinical.slots import NOT_HOLDING, SlotRecord, Slots, schedule, search_of, slot_reference
from sim.clinical.store import Held, Store, appointment_of
from sim.clinical.transactions import (
    Entry,
    Invalid,
    Transaction,
    case_id_in,
    condition_of,
    read_json,
    transaction_of,
)

RECORD_LIMIT = 100_000


class Kind(StrEnum):
    """How the server knows a request it has had before. Both honour conditional creates."""

    BARS = "bars"  # Bundle.identifier required; the same again is 409 duplicate (NHS BaRS)
    PLAIN = "plain"  # a stock FHIR R4 server: Bundle.identifier ignored, never a 409


@dataclass(frozen=True)
class Answer:
    status: int
    body: Json
    outcome: str  # created | duplicate | invalid | unavailable (found: a search's)


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
        self.slots = Slots(limit)
        self.slots.replace(schedule(wall()))
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
        new = [entry for entry, held in zip(transaction.entries, existing, strict=True) if not held]
        refused = self._slots_refused(new)
        if refused is not None:
            return refused
        responses = [
            (held.location, "200 OK")
            if held is not None
            else (self._create(entry).location, "201 Created")
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

    def _create(self, entry: Entry) -> Held:
        slots = _held_slots(entry)
        held = self.resources.create(entry.resource_type, entry.identifiers, slots)
        for reference in slots:
            self.slots.hold(reference, f"{held.resource_type}/{held.id}")
        return held

    def _slots_refused(self, new: Iterable[Entry]) -> Answer | None:
        """A slot is held by one Appointment: one for a slot held already (or twice in this
        transaction) is refused 409, saying so; one at other times than its slot's, 422."""
        claimed: set[str] = set()
        for entry in new:
            for reference in _held_slots(entry):
                if self.slots.holder(reference) is not None or reference in claimed:
                    taken = operation_outcome("conflict", f"{reference} is already booked")
                    return Answer(409, taken, "invalid")
                claimed.add(reference)
                record = self.slots.get(reference)
                if record is not None and entry.booking and not _same_times(entry, record):
                    diagnostics = (
                        f"an Appointment's start and end must be those of {reference} "
                        f"({record.start.isoformat()} to {record.end.isoformat()})"
                    )
                    return Answer(422, operation_outcome("invalid", diagnostics), "invalid")
        return None

    def search_slots(self, params: Iterable[tuple[str, str]], url: str) -> Answer:
        """`GET [base]/Slot?...`: a searchset of the slots matched, earliest first."""
        if self.faults.now() is Mode.ERRORS:
            return Answer(503, failing_outcome(), "unavailable")
        try:
            search = search_of(params)
        except Invalid as invalid:
            return Answer(
                invalid.status, operation_outcome(invalid.code, invalid.diagnostics), "invalid"
            )
        matched = self.slots.search(search)
        found = [
            (f"{self.base_url}/{record.reference}", self.slots.resource(record))
            for record in matched[: search.count]
        ]
        body = searchset(str(uuid.uuid4()), url, len(matched), found, self.wall())
        return Answer(200, body, "found")

    def search_appointments(self, params: list[tuple[str, str]], url: str) -> Answer:
        """`GET [base]/Appointment?identifier=[system|]value`: the Appointments held with that
        identifier, as much of each as the stub keeps (its identifiers and the slots it holds)."""
        if self.faults.now() is Mode.ERRORS:
            return Answer(503, failing_outcome(), "unavailable")
        if len(params) != 1 or params[0][0] != "identifier":
            diagnostics = "only identifier=[system|]value is supported here"
            return Answer(400, operation_outcome("not-supported", diagnostics), "invalid")
        try:
            token = condition_of(urlencode(params), "Appointment search")
        except Invalid as invalid:
            return Answer(
                invalid.status, operation_outcome(invalid.code, invalid.diagnostics), "invalid"
            )
        matched = self.resources.search("Appointment", token)
        found = [
            (f"{self.base_url}/Appointment/{held.id}", appointment_of(held)) for held in matched
        ]
        body = searchset(str(uuid.uuid4()), url, len(matched), found, self.wall())
        return Answer(200, body, "found")

    def set_slots(self, records: list[SlotRecord]) -> None:
        self.slots.replace(records)

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
        self.slots.replace(schedule(self.wall()))


def _held_slots(entry: Entry) -> tuple[str, ...]:
    """The slots an Appointment created from `entry` would hold (`Slot/<id>` each)."""
    booking = entry.booking
    if booking is None or booking.status in NOT_HOLDING:
        return ()
    return tuple(slot_reference(reference) for reference in booking.slots)


def _same_times(entry: Entry, record: SlotRecord) -> bool:
    assert entry.booking is not None
    try:
        start = datetime.fromisoformat(entry.booking.start)
        end = datetime.fromisoformat(entry.booking.end)
    except ValueError:
        return False
    return (start, end) == (record.start, record.end)
