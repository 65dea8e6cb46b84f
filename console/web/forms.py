"""Form bodies: each form is a Pydantic model; a bad one becomes messages beside its fields."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
FormErrors = dict[str, str]  # field name ("" for the form as a whole) -> what is wrong


def parse(model: type[M], data: dict[str, str]) -> tuple[M | None, FormErrors]:
    try:
        return model.model_validate(data), {}
    except ValidationError as error:
        errors: FormErrors = {}
        for item in error.errors(include_url=False, include_input=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            message = said(item["type"], item.get("ctx", {}), item["msg"])
            if item["type"] == PATTERN:
                message = FORMS.get(field, message)
            errors.setdefault(field, message)
        return None, errors


def present(data: dict[str, str]) -> dict[str, str]:
    """Empty fields left out, so that optional fields take their defaults."""
    return {name: value for name, value in data.items() if value != ""}


PATTERN = "string_pattern_mismatch"
# What a field with a pattern takes, said the way a person can act on.
FORMS = {
    "username": "Use 2 to 32 lower-case letters, digits, dots, dashes or underscores, "
    "starting with a letter or digit.",
    "handler": "Use a handler id: lower-case letters, digits, dashes or underscores.",
    "line": "Use a number in international form, such as +441134960000.",
}


def said(kind: str, ctx: dict[str, Any], message: str) -> str:
    """Pydantic's finding as a person at a form would put it; our own checks say it already."""
    match kind:
        case "missing":
            return "This is needed."
        case "string_too_short" if ctx.get("min_length") == 1:
            return "This cannot be empty."
        case "string_too_short":
            return f"Use at least {ctx['min_length']} characters."
        case "string_too_long":
            return f"Use at most {ctx['max_length']} characters."
        case "string_pattern_mismatch":  # the field's own words, where FORMS has them
            return "This is not in the form expected here."
        case "enum" | "literal_error":
            return "Choose one of the options."
        case "int_parsing" | "int_from_float" | "float_parsing":
            return "Enter a number."
        case "greater_than_equal":
            return f"Use {ctx['ge']} or more."
        case "less_than_equal":
            return f"Use {ctx['le']} or less."
        case "extra_forbidden":
            return "This form does not take this field."
    return message.removeprefix("Value error, ")
