"""The official FHIR R4 JSON schema (a copy in tests/data/fhir, with its licence), loaded once per
session: every Bundle the tests see Lifeline build or send must pass it, as well as fhir.resources
(whose models are R4B's)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import JsonValue

from sim.clinical.schema import R4Schema

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "fhir" / "fhir-r4.schema.json"


@cache
def r4_schema() -> R4Schema:
    return R4Schema(SCHEMA_PATH)


def r4_problems(resource: JsonValue) -> list[str]:
    """What the R4 schema finds wrong with `resource` (nothing, for a valid one)."""
    return r4_schema().problems(resource)
