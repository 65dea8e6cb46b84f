"""The OpenAPI 3.1 document of /api/v1, generated from the endpoint list and its models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from console.endpoints import JSON, Endpoint

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["error"],
}


FAILURES = (
    (400, "Malformed request"),
    (401, "No or unknown token"),
    (403, "Not allowed for this role"),
    (404, "Not found"),
    (409, "Conflict"),
    (422, "Invalid body; `problems` lists each problem with its path"),
)


def optional(name: str, where: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": False,
        "description": text,
        "schema": {"type": "string"},
    }


def failure(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def answer(code: int, text: str, success: dict[str, Any]) -> dict[str, Any]:
    """An endpoint's own answer: a success carries what the endpoint serves, an error of
    Lifeline's its JSON; any other (a 416 passed on from Twilio) nothing."""
    if code < 300:
        return {"description": text, "content": success}
    if code >= 500:
        return failure(text)
    return {"description": text}


def schema_of(kind: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """A schema for `kind`, with every model in components and referred to by name."""
    schema = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}")
    definitions.update(schema.pop("$defs", {}))
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        definitions[kind.__name__] = schema
        return {"$ref": f"#/components/schemas/{kind.__name__}"}
    return schema


def document(endpoints: list[Endpoint], title: str = "Lifeline API") -> dict[str, Any]:
    definitions: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", endpoint.path)
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if conv in (":int", ":version") else "string"},
            }
            for name, conv in re.findall(r"\{(\w+)(:\w+)?\}", endpoint.path)
        ]
        parameters += [optional(name, "query", text) for name, text in endpoint.query.items()]
        parameters += [optional(name, "header", text) for name, text in endpoint.headers.items()]
        if endpoint.media_type == JSON:
            success = {JSON: {"schema": schema_of(endpoint.response, definitions)}}
        else:  # bytes, streamed
            media = endpoint.media_type
            success = {media: {"schema": {"type": "string", "contentMediaType": media}}}
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "description": f"Roles: {', '.join(sorted(role.value for role in endpoint.roles))}.",
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                str(endpoint.status): {"description": "OK", "content": success},
                **{str(code): failure(text) for code, text in FAILURES},
                **{
                    str(code): answer(code, text, success)
                    for code, text in endpoint.answers.items()
                },
            },
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of(endpoint.body, definitions)}},
            }
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
