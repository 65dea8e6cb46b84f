"""Errors of the API, and the one place domain errors become HTTP responses.

ApiError (status, message, problems)
├── BadRequest       400: the body or query cannot be read
├── Unauthorized     401: no or unknown credentials
├── Forbidden        403: known, but not allowed this
├── NotFound         404
├── Conflict         409: the thing exists, or changed meanwhile
├── Invalid          422: the body is well-formed but wrong; `problems` lists each with its path
├── BadGateway       502: a system behind Lifeline (Twilio) failed or could not be reached
└── Unavailable      503: the store (Redis) cannot be reached
"""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse

from console.recording_audio import AudioUnavailable, TwilioUnavailable
from routing.activation import ActivationRefused
from routing.handlers import NotAllowed, UnknownHandler
from routing.rulebook import UnknownVersion
from routing.rules import RuleSetError


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Invalid(ApiError):
    status = 422


class BadGateway(ApiError):
    status = 502


class Unavailable(ApiError):
    status = 503


def as_api_error(error: Exception) -> ApiError:
    match error:
        case ApiError():
            return error
        case UnknownHandler() | UnknownVersion():
            return NotFound(str(error))
        case NotAllowed():
            return Conflict(str(error))
        case ActivationRefused():
            return Conflict("activating this version would strand callers", error.problems)
        case RuleSetError():
            return Invalid("the rule set is invalid", error.problems)
        case TwilioUnavailable():
            return BadGateway(error.message)
        case AudioUnavailable():
            return NotFound(error.message)
        case RedisError():
            return Unavailable("the store is unreachable just now; try again shortly")
    raise error


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, object] = {"error": error.message}
    if error.problems:
        body["problems"] = error.problems
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else None
    return JSONResponse(body, status_code=error.status, headers=headers)


async def handle(request: Request, error: Exception) -> JSONResponse:
    return error_response(as_api_error(error))
