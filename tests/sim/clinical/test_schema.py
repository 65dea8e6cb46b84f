"""The R4 schema check: the verdicts of the official schema itself, however it gets there, and
messages that name the element and the rule, never the value."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
import pytest

from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from tests.fhir_r4 import SCHEMA_PATH, r4_problems
from workers.fhir import bundle_json

SLOT = BookedSlot(
    slot="Slot/a",
    start=datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
    end=datetime(2026, 1, 5, 14, 10, tzinfo=UTC),
)


@cache
def plain_draft6() -> jsonschema.Draft6Validator:
    """The schema as jsonschema checks it when told nothing about it."""
    return jsonschema.Draft6Validator(json.loads(SCHEMA_PATH.read_text()))


def sent(kind: CaseKind, request: Request = Request.OPENED) -> dict[str, Any]:
    case = ClinicalCase(
        case_id="7K2QX-M9D4A",
        kind=kind,
        created=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        caller_number="+447700900123",
        locale="cy-GB",
        reason="medical",
        priority=2,
        appointment=SLOT if kind is CaseKind.BOOKING else None,
        request=request,
    )
    return bundle_json(case)


def broken(change: str) -> dict[str, Any]:
    bundle = copy.deepcopy(sent(CaseKind.BOOKING))
    entries = bundle["entry"]
    if change == "unknown element":
        entries[0]["resource"]["nickname"] = "Jo"
    elif change == "code not in its value set":
        entries[1]["resource"]["status"] = "waiting"
    elif change == "no resourceType":
        del entries[2]["resource"]["resourceType"]
    elif change == "not an R4 resource":
        entries[3]["resource"]["resourceType"] = "NutritionProduct"
    elif change == "uri with a space":
        entries[0]["resource"]["identifier"][0]["system"] = "https://lifeline.nhs.example/a b"
    elif change == "wrong type":
        bundle["type"] = 3
    return bundle


CHANGES = [
    "unknown element",
    "code not in its value set",
    "no resourceType",
    "not an R4 resource",
    "uri with a space",
    "wrong type",
]
INSTANCES = [
    *(
        pytest.param(sent(kind, request), id=f"{kind}-{request}")
        for kind in CaseKind
        for request in Request
    ),
    *(pytest.param(broken(change), id=change) for change in CHANGES),
    pytest.param({"resourceType": "Patient"}, id="a bare patient"),
    pytest.param({"resourceType": "Patient", "gender": "x"}, id="a patient of no gender"),
    pytest.param({"name": "no resource"}, id="no resource"),
    pytest.param([], id="a list"),
]


@pytest.mark.parametrize("instance", INSTANCES)
def test_the_check_gives_the_official_schemas_own_verdict(instance: Any) -> None:
    assert (r4_problems(instance) == []) is plain_draft6().is_valid(instance)


@pytest.mark.parametrize("change", CHANGES)
def test_a_broken_bundle_is_told_where_and_why_without_its_values(change: str) -> None:
    problems = r4_problems(broken(change))

    assert len(problems) == 1
    assert problems[0].startswith("$.")
    for value in ("Jo", "waiting", "a b", "+447700900123"):
        assert value not in problems[0]
