"""The OpenAPI 3.1 document of /api/v1, generated from the endpoint list and its models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from console.endpoints import Endpoint

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["error"],
}


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
        ] + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in endpoint.query.items()
        ]
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "description": f"Roles: {', '.join(sorted(role.value for role in endpoint.roles))}.",
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                str(endpoint.status): {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": schema_of(endpoint.response, definitions)}
                    },
                },
                **{
                    str(code): {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in (
                        (400, "Malformed request"),
                        (401, "No or unknown token"),
                        (403, "Not allowed for this role"),
                        (404, "Not found"),
                        (409, "Conflict"),
                        (422, "Invalid body; `problems` lists each problem with its path"),
                    )
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
