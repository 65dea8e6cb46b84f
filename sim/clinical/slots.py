"""The stub's appointment slots: a schedule per service, searched as FHIR `Slot`s, each held by at
most one Appointment (a second is refused), a booked one `busy`."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator

from sim.clinical.resources import Json
from sim.clinical.transactions import Invalid

SERVICE_TYPE_SYSTEM = "https://lifeline.nhs.example/service-type"
# What Lifeline asks for (docs/CLINICAL.md): the stub's schedule has slots of each.
SERVICES = {
    "urgent-care": "Urgent care appointment",
    "mental-health": "Mental health appointment",
    "dental": "Dental appointment",
}
SLOT_MINUTES = 15
EVERY_MINUTES = 30
SCHEDULE_HOURS = 12
# An Appointment in one of these states holds no slot.
NOT_HOLDING = frozenset({"proposed", "cancelled", "noshow", "entered-in-error"})
SLOT_STATUSES = frozenset(
    {"free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error"}
)
SlotId = Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


class SlotSetting(BaseModel):
    """One slot of `PUT /control/slots` (free as it is set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SlotId
    service_type: Annotated[str, Field(min_length=1, max_length=64)]
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> SlotSetting:
        if self.end <= self.start:
            raise ValueError("a slot ends after it starts")
        return self


class SlotsSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slots: list[SlotSetting]

    @model_validator(mode="after")
    def _ids_once(self) -> SlotsSetting:
        ids = [item.id for item in self.slots]
        if len(set(ids)) != len(ids):
            raise ValueError("each slot's id once")
        return self

    def records(self) -> list[SlotRecord]:
        return [
            SlotRecord(
                item.id, item.service_type, item.start.astimezone(UTC), item.end.astimezone(UTC)
            )
            for item in self.slots
        ]


@dataclass(frozen=True)
class SlotRecord:
    id: str
    service_type: str
    start: datetime
    end: datetime

    @property
    def reference(self) -> str:
        return f"Slot/{self.id}"


def fhir_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def schedule(now: float) -> list[SlotRecord]:
    """Every service's slots from the next half hour, for the next twelve hours."""
    moment = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
    first = moment + timedelta(minutes=-moment.minute % EVERY_MINUTES)
    starts = [
        first + timedelta(minutes=EVERY_MINUTES * n)
        for n in range(SCHEDULE_HOURS * 60 // EVERY_MINUTES)
    ]
    return [
        SlotRecord(
            f"{service}-{start:%Y%m%dT%H%M}",
            service,
            start,
            start + timedelta(minutes=SLOT_MINUTES),
        )
        for service in SERVICES
        for start in starts
    ]


def slot_reference(reference: str) -> str:
    """`Slot/<id>`, from a literal reference, relative or absolute."""
    found = re.search(r"(?:^|/)(Slot/[^/]+)$", reference)
    return found.group(1) if found else reference


class Slots:
    """The schedule, and which Appointment holds which slot (a slot the stub does not serve
    included: it is taken as it comes, but still booked once)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, SlotRecord] = {}
        self._held: OrderedDict[str, str] = OrderedDict()  # `Slot/<id>` -> `Appointment/<id>`

    def replace(self, slots: Iterable[SlotRecord]) -> None:
        self._slots = {item.id: item for item in slots}
        self._held.clear()

    def status(self, record: SlotRecord) -> str:
        return "busy" if record.reference in self._held else "free"

    def holder(self, reference: str) -> str | None:
        return self._held.get(slot_reference(reference))

    def get(self, reference: str) -> SlotRecord | None:
        ref = slot_reference(reference)
        return self._slots.get(ref.removeprefix("Slot/")) if ref.startswith("Slot/") else None

    def hold(self, reference: str, appointment: str) -> None:
        self._held[slot_reference(reference)] = appointment
        while len(self._held) > self.limit:
            self._held.popitem(last=False)

    def all(self) -> list[SlotRecord]:
        return sorted(self._slots.values(), key=lambda item: (item.start, item.id))

    def search(self, search: Search) -> list[SlotRecord]:
        """Every slot the search matches, earliest first."""
        return [record for record in self.all() if self._matches(search, record)]

    def _matches(self, search: Search, record: SlotRecord) -> bool:
        if search.statuses is not None and self.status(record) not in search.statuses:
            return False
        if not all(COMPARISONS[op](record.start, value) for op, value in search.starts):
            return False
        return search.services is None or any(
            code == record.service_type and system in (None, SERVICE_TYPE_SYSTEM)
            for system, code in search.services
        )

    def as_json(self, record: SlotRecord) -> dict[str, JsonValue]:
        return {
            "id": record.id,
            "service_type": record.service_type,
            "start": fhir_instant(record.start),
            "end": fhir_instant(record.end),
            "status": self.status(record),
            "appointment": self.holder(record.reference),
        }

    def resource(self, record: SlotRecord) -> Json:
        """The FHIR R4 Slot."""
        service: JsonValue = {
            "coding": [{"system": SERVICE_TYPE_SYSTEM, "code": record.service_type}],
            "text": SERVICES.get(record.service_type, record.service_type),
        }
        return {
            "resourceType": "Slot",
            "id": record.id,
            "serviceType": [service],
            "schedule": {"reference": f"Schedule/{record.service_type}"},
            "status": self.status(record),
            "start": fhir_instant(record.start),
            "end": fhir_instant(record.end),
        }


SEARCH_PARAMETERS = frozenset({"status", "start", "service-type", "_count", "_sort"})
DEFAULT_COUNT = 20
MAX_COUNT = 100
COMPARISONS: dict[str, Callable[[datetime, datetime], bool]] = {
    "eq": lambda start, value: start == value,
    "ge": lambda start, value: start >= value,
    "gt": lambda start, value: start > value,
    "le": lambda start, value: start <= value,
    "lt": lambda start, value: start < value,
}


@dataclass(frozen=True)
class Search:
    """A `Slot` search: every condition given must hold (a list of values is any of them)."""

    statuses: frozenset[str] | None = None
    starts: tuple[tuple[str, datetime], ...] = ()
    services: tuple[tuple[str | None, str], ...] | None = None  # (system or any, code)
    count: int = DEFAULT_COUNT


def _values(value: str) -> list[str]:
    return [item for item in value.split(",") if item]


def _start(value: str) -> tuple[str, datetime]:
    prefix = value[:2] if value[:2].isalpha() else "eq"
    moment = value[2:] if value[:2].isalpha() else value
    if prefix not in COMPARISONS:
        raise Invalid(400, f"start: the prefix {prefix!r} is not supported (eq, ge, gt, le, lt)")
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise Invalid(400, "start: not a FHIR dateTime") from None
    if parsed.tzinfo is None:
        raise Invalid(400, "start: give a dateTime with a time and a time zone")
    return prefix, parsed


def _service(value: str) -> tuple[str | None, str]:
    system, bar, code = value.partition("|")
    token = (system or None, code) if bar else (None, system)
    if not token[1]:
        raise Invalid(400, "service-type: a token needs a code")
    return token


def _count(value: str) -> int:
    if not value.isdigit():
        raise Invalid(400, "_count: a whole number, 0 or more")
    return min(int(value), MAX_COUNT)


def search_of(params: Iterable[tuple[str, str]]) -> Search:
    """The search a query string asks for, or `Invalid` (400) saying what this stub cannot do:
    it is strict, so that a mistake in what Lifeline sends shows rather than being ignored."""
    search = Search()
    for name, value in params:
        if name not in SEARCH_PARAMETERS:
            raise Invalid(
                400,
                f"search parameter {name} is not supported here "
                f"({', '.join(sorted(SEARCH_PARAMETERS))})",
                code="not-supported",
            )
        if name == "status":
            statuses = _values(value)
            if not statuses or not set(statuses) <= SLOT_STATUSES:
                raise Invalid(400, f"status: one or more of {', '.join(sorted(SLOT_STATUSES))}")
            search = replace(search, statuses=frozenset(statuses))
        elif name == "start":
            search = replace(search, starts=(*search.starts, _start(value)))
        elif name == "service-type":
            services = tuple(_service(item) for item in _values(value))
            search = replace(search, services=services)
        elif name == "_count":
            search = replace(search, count=_count(value))
        elif value != "start":
            raise Invalid(400, "_sort: only by start", code="not-supported")
    return search
