"""The FHIR API under /fhir: `GET /fhir/metadata`, `POST /fhir` (transaction), and the searches
`GET /fhir/Slot` and `GET /fhir/Appointment?identifier=`, faults applied, one log line per request
(method, path, status; never a body or a query string)."""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sim.clinical.faults import Mode
from sim.clinical.resources import (
    capability_statement,
    failing_outcome,
    fhir_response,
    operation_outcome,
)
from sim.clinical.stub import Stub

log = logging.getLogger(__name__)

BASE_PATH = "/fhir"
# Only these paths are logged as they are; any other might carry an identifier.
METADATA_PATH = f"{BASE_PATH}/metadata"
LOGGED_PATHS = frozenset(
    {BASE_PATH, f"{BASE_PATH}/", METADATA_PATH, f"{BASE_PATH}/Slot", f"{BASE_PATH}/Appointment"}
)
NOT_FOUND_HINT = (
    "this stub serves GET [base]/metadata, POST [base] (transaction), GET [base]/Slot and "
    "GET [base]/Appointment?identifier= only"
)


class FaultsAndLog:
    """Holds every answer back while `slow` is in force, then logs one line for the request."""

    def __init__(self, app: ASGIApp, stub: Stub) -> None:
        self.app = app
        self.stub = stub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        slow = self.stub.faults.now() is Mode.SLOW
        held: list[Message] = []

        def logged(message: Message) -> None:
            # Before the answer leaves: whoever reads it can then rely on the line being there.
            path = scope["path"] if scope["path"] in LOGGED_PATHS else "(other path)"
            elapsed = time.perf_counter() - started
            # Lifeline's probe reads /metadata every two seconds: only a failing read is news.
            routine = path == METADATA_PATH and message["status"] == 200
            level = logging.DEBUG if routine else logging.INFO
            log.log(
                level, "%s %s -> %d (%.3f s)", scope["method"], path, message["status"], elapsed
            )

        async def answer(message: Message) -> None:
            if slow:
                held.append(message)
                return
            if message["type"] == "http.response.start":
                logged(message)
            await send(message)

        await self.app(scope, receive, answer)
        if held:
            # The work is done first: a client that gives up has still been heard, as in life.
            await self.stub.faults.hold()
            logged(held[0])
            for message in held:
                await send(message)


def _stub(request: Request) -> Stub:
    stub = request.app.state.stub
    assert isinstance(stub, Stub)
    return stub


def _failing(stub: Stub) -> Response | None:
    if stub.faults.now() is Mode.ERRORS:
        return fhir_response(failing_outcome(), 503)
    return None


async def _metadata(request: Request) -> Response:
    stub = _stub(request)
    return _failing(stub) or fhir_response(capability_statement(stub.wall(), stub.base_url))


async def _transaction(request: Request) -> Response:
    answer = _stub(request).transact(request.headers.get("content-type", ""), await request.body())
    return fhir_response(answer.body, answer.status)


async def _slot_search(request: Request) -> Response:
    answer = _stub(request).search_slots(request.query_params.multi_items(), str(request.url))
    return fhir_response(answer.body, answer.status)


async def _appointment_search(request: Request) -> Response:
    params = request.query_params.multi_items()
    answer = _stub(request).search_appointments(params, str(request.url))
    return fhir_response(answer.body, answer.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        outcome = operation_outcome("not-found", f"no such endpoint: {NOT_FOUND_HINT}")
    elif exc.status_code == 405:
        outcome = operation_outcome("not-supported", f"{request.method} is not supported here")
    else:
        outcome = operation_outcome("invalid", str(exc.detail))
    return _failing(_stub(request)) or fhir_response(outcome, exc.status_code)


def create_fhir_app(stub: Stub) -> ASGIApp:
    app = Starlette(
        routes=[
            Route(METADATA_PATH, _metadata, methods=["GET"]),
            Route(f"{BASE_PATH}/Slot", _slot_search, methods=["GET"]),
            Route(f"{BASE_PATH}/Appointment", _appointment_search, methods=["GET"]),
            Route(BASE_PATH, _transaction, methods=["POST"]),
            Route(f"{BASE_PATH}/", _transaction, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.stub = stub
    return FaultsAndLog(app, stub)
