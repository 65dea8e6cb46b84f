"""API endpoints as data: path, roles, body and response models, so that routes, checks and the
OpenAPI document all come from one list."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.context import Console
from console.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    Invalid,
    Unauthorized,
    as_api_error,
    error_response,
)
from console.tokens import Principal, Role
from routing.floor import Floor

MAX_BODY_BYTES = 256 * 1024
JSON = "application/json"

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class ApiRequest:
    """What an endpoint's function receives."""

    console: Console
    principal: Principal
    path: dict[str, Any]
    query: dict[str, str]
    body: Any
    method: str = "GET"
    headers: Headers = field(default_factory=Headers)  # for what is streamed: a byte range

    @property
    def floor(self) -> Floor:
        return self.console.floor


EndpointFunction = Callable[[ApiRequest], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    function: EndpointFunction
    roles: frozenset[Role]
    body: type[BaseModel] | None = None
    response: Any = None  # a model or type for the OpenAPI document
    status: int = 200
    query: dict[str, str] = field(default_factory=dict)  # name -> description
    # What a success carries: JSON of `response`, or bytes of another type, streamed (the
    # function returns the Response itself), with the request headers it reads and the other
    # answers it may give (status -> description).
    media_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    answers: dict[int, str] = field(default_factory=dict)


async def principal_of(request: Request, console: Console) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required")
    principal = await console.tokens.verify(token.strip(), console.floor.clock.now())
    if principal is None:
        raise Unauthorized("the token is unknown, revoked or expired, or its account disabled")
    return principal


async def read_json(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the body is over {MAX_BODY_BYTES} bytes")
    if not body:
        return {}
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not JSON: {error}") from None
    except RecursionError:  # the decoder's own guard: nothing was half-done
        raise BadRequest("the body is not JSON: it is nested too deeply") from None


def problems_of(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    ]


def route(endpoint: Endpoint) -> Route:
    async def run(request: Request) -> Response:
        console: Console = request.state.console
        try:
            principal = await principal_of(request, console)
            if principal.role not in endpoint.roles:
                raise Forbidden(f"{principal.role} may not {endpoint.summary.lower()}")
            body = None
            if endpoint.body is not None:
                try:
                    body = endpoint.body.model_validate(await read_json(request))
                except ValidationError as error:
                    raise Invalid("the body is invalid", problems_of(error)) from None
            asked = ApiRequest(
                console=console,
                principal=principal,
                path=dict(request.path_params),
                query=dict(request.query_params),
                body=body,
                method=request.method,
                headers=request.headers,
            )
            result = await endpoint.function(asked)
        except Exception as error:  # mapped in one place; anything else is a real 500
            return error_response(as_api_error(error))
        if isinstance(result, Response):
            return result
        content = (
            TypeAdapter(type(result)).dump_python(result, mode="json")
            if result is not None
            else None
        )
        return JSONResponse(content, status_code=endpoint.status)

    return Route(endpoint.path, run, methods=[endpoint.method])


__all__ = ["EVERYONE", "JSON", "SUPERVISORS", "ApiError", "ApiRequest", "Endpoint", "route"]
