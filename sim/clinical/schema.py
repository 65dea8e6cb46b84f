"""The official FHIR R4 JSON schema as a check of what is received, with messages that name the
element and the rule broken, never the value (it may be a patient's)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import JsonValue

try:
    from jsonschema import Draft6Validator, validators
    from jsonschema.exceptions import ValidationError

    AVAILABLE = True
except ImportError:  # a test dependency (the dev extra): without it the stub runs, unchecked
    AVAILABLE = False

# These validators' messages name elements, not values: kept as they are.
_NAMING = frozenset({"required", "additionalProperties"})


class SchemaError(Exception):
    """The schema cannot be used: no jsonschema package, no such file, not a JSON schema."""


class R4Schema:
    """The schema at `path` (Draft 6, about 3 MB: load it once); `problems(data)` is empty when
    `data` is a valid FHIR R4 resource."""

    def __init__(self, path: Path) -> None:
        if not AVAILABLE:
            raise SchemaError("checking the R4 schema needs the jsonschema package (the dev extra)")
        try:
            schema = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise SchemaError(f"cannot read the schema at {path}: {error}") from None
        if not isinstance(schema, dict) or "oneOf" not in schema:
            raise SchemaError(f"{path} is not the FHIR JSON schema")
        self.path = path
        # The schema picks a resource's definition by `oneOf` among some 150, each requiring its
        # own name as `resourceType` (its `discriminator`, which Draft 6 cannot say): only that
        # one can match, so only that one is tried. The same verdicts, some 20 times faster.
        checker = _ByResourceType if _discriminated(schema) else Draft6Validator
        self._validator = checker(schema)

    def problems(self, data: JsonValue, limit: int = 5) -> list[str]:
        """What is wrong with `data`, in document order: `<path>: <rule>` each."""
        found = [leaf for error in self._validator.iter_errors(data) for leaf in _leaves(error)]
        found.sort(key=lambda error: [str(part) for part in error.absolute_path])
        return [describe(error) for error in found[:limit]]


def _discriminated(schema: dict[str, Any]) -> bool:
    """Whether every choice of a resource requires its own name as `resourceType`."""
    definitions = schema.get("definitions", {})
    for choice in schema["oneOf"]:
        name = str(choice.get("$ref", "")).removeprefix("#/definitions/")
        definition = definitions.get(name, {})
        const = definition.get("properties", {}).get("resourceType", {}).get("const")
        if const != name or "resourceType" not in definition.get("required", []):
            return False
    return True


def _own_choice(choices: Any, instance: Any) -> int | None:
    """Which of a `oneOf`'s choices is the definition of the instance's `resourceType`."""
    if not isinstance(instance, dict) or not isinstance(choices, list):
        return None
    own = f"#/definitions/{instance.get('resourceType')}"
    return next((i for i, c in enumerate(choices) if c.get("$ref") == own), None)


def _one_of(
    validator: Any, choices: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    own = _own_choice(choices, instance)
    if own is None:
        yield from Draft6Validator.VALIDATORS["oneOf"](validator, choices, instance, schema)
        return
    errors = list(validator.descend(instance, choices[own], schema_path=own))
    if errors:
        yield ValidationError("is not valid under its resource type's schema", context=errors)


if AVAILABLE:
    # (types-jsonschema leaves `extend` untyped.)
    _ByResourceType = validators.extend(  # type: ignore[no-untyped-call]
        Draft6Validator, {"oneOf": _one_of}
    )


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors themselves. The schema chooses a resource's definition with a `oneOf` of some
    150; only its own `resourceType`'s branch says what is wrong with it."""
    inside = _own_branch(error)
    if inside is None:
        yield error
        return
    for nested in inside:
        yield from _leaves(nested)


def _own_branch(error: ValidationError) -> list[ValidationError] | None:
    if error.validator != "oneOf" or not error.context:
        return None
    own = _own_choice(error.validator_value, error.instance)
    inside = [nested for nested in error.context if nested.relative_schema_path[0] == own]
    return inside or None


def describe(error: ValidationError) -> str:
    kind = error.instance.get("resourceType") if isinstance(error.instance, dict) else None
    if error.validator in _NAMING:
        rule = error.message
    elif error.validator == "oneOf" and isinstance(kind, str):
        rule = f"{kind[:64]} is not a FHIR R4 resource type"
    elif error.validator in ("oneOf", "anyOf"):
        rule = f"matches none of the {error.validator} choices for it"
    else:
        expected = json.dumps(error.validator_value)
        rule = f"fails {error.validator} {expected[:120]}"
    return f"{error.json_path}: {rule}"
