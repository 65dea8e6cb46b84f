"""Form bodies: each form is a Pydantic model; a bad one becomes messages beside its fields."""

from __future__ import annotations

from typing import TypeVar

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
            message = str(item["msg"]).removeprefix("Value error, ")
            errors.setdefault(field, message)
        return None, errors


def present(data: dict[str, str]) -> dict[str, str]:
    """Empty fields left out, so that optional fields take their defaults."""
    return {name: value for name, value in data.items() if value != ""}
