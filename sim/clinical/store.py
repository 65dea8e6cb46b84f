"""The resources the stub has created: type, id and business identifiers only (enough to answer
a conditional create as a FHIR server does), and an Appointment's slots, in memory, the oldest
dropped past a limit."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass

from pydantic import JsonValue


@dataclass(frozen=True)
class Held:
    resource_type: str
    id: str
    identifiers: tuple[tuple[str, str], ...]  # (system, value); system "" when it has none
    slots: tuple[str, ...] = ()  # an Appointment's: the `Slot/<id>` it holds

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/1"

    def as_json(self) -> dict[str, JsonValue]:
        identifiers: list[JsonValue] = [
            {"system": system, "value": value} if system else {"value": value}
            for system, value in self.identifiers
        ]
        held: dict[str, JsonValue] = {
            "resourceType": self.resource_type,
            "id": self.id,
            "identifier": identifiers,
        }
        if self.slots:
            held["slot"] = list(self.slots)
        return held


@dataclass(frozen=True)
class Token:
    """An `identifier` search: `system|value`, or `value` in any system."""

    value: str
    system: str | None = None

    def matches(self, held: Held) -> bool:
        return any(
            value == self.value and (self.system is None or system == self.system)
            for system, value in held.identifiers
        )


class Store:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: OrderedDict[str, Held] = OrderedDict()
        # (resource type, identifier value) -> the keys of the resources that carry it
        self._index: dict[tuple[str, str], list[str]] = {}

    def search(self, resource_type: str, token: Token) -> list[Held]:
        keys = self._index.get((resource_type, token.value), [])
        return [held for key in keys if token.matches(held := self._held[key])]

    def create(
        self,
        resource_type: str,
        identifiers: tuple[tuple[str, str], ...],
        slots: tuple[str, ...] = (),
    ) -> Held:
        held = Held(resource_type, str(uuid.uuid4()), identifiers, slots)
        key = f"{resource_type}/{held.id}"
        self._held[key] = held
        for _, value in identifiers:
            self._index.setdefault((resource_type, value), []).append(key)
        while len(self._held) > self.limit:
            self._forget(*self._held.popitem(last=False))
        return held

    def _forget(self, key: str, held: Held) -> None:
        for _, value in held.identifiers:
            keys = self._index.get((held.resource_type, value), [])
            if key in keys:
                keys.remove(key)
            if not keys:
                self._index.pop((held.resource_type, value), None)

    def all(self, resource_type: str | None = None) -> list[Held]:
        return [
            held
            for held in self._held.values()
            if resource_type is None or held.resource_type == resource_type
        ]

    def clear(self) -> None:
        self._held.clear()
        self._index.clear()


def appointment_of(held: Held) -> dict[str, JsonValue]:
    """An Appointment held, as a FHIR resource: its identifiers and the slots it holds (the stub
    keeps no more of it, so its participant is only said to have accepted)."""
    identifiers: list[JsonValue] = [
        {"system": system, "value": value} if system else {"value": value}
        for system, value in held.identifiers
    ]
    resource: dict[str, JsonValue] = {
        "resourceType": "Appointment",
        "id": held.id,
        "status": "booked",
        "participant": [{"status": "accepted"}],
    }
    if identifiers:
        resource["identifier"] = identifiers
    if held.slots:
        resource["slot"] = [{"reference": reference} for reference in held.slots]
    return resource
