"""The control API (JSON under /control/, no auth, on its own port, always up): switch faults,
the kind of server and the schema check; read and clear what the FHIR API received and holds;
set and read the appointment slots; reset."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.clinical.faults import FaultSetting, Mode
from sim.clinical.listener import Listener, ListenerError
from sim.clinical.schema import R4Schema, SchemaError
from sim.clinical.slots import SlotsSetting
from sim.clinical.stub import Kind, Stub

Setting = TypeVar("Setting", bound=BaseModel)


class ServerSetting(BaseModel):
    """Body of `PUT /control/server`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind


class ChecksSetting(BaseModel):
    """Body of `PUT /control/checks`: where the FHIR R4 JSON schema is on this machine, or null
    for no check."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r4_schema: str | None


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Controller:
    """Applies a fault to the stub and to the FHIR port (closed while `down`), one at a time."""

    def __init__(self, stub: Stub, listener: Listener) -> None:
        self.stub = stub
        self.listener = listener
        self._lock = asyncio.Lock()

    async def apply(self, setting: FaultSetting) -> None:
        async with self._lock:
            self.stub.faults.set(setting)
            if setting.mode is Mode.DOWN:
                await self.listener.close()
                return
            try:
                await self.listener.open()
            except ListenerError as error:
                self.stub.faults.set(FaultSetting(mode=Mode.DOWN))
                raise ControlError(503, f"{error}; the mode stays down") from None

    def snapshot(self) -> dict[str, object]:
        return {
            **self.stub.faults.snapshot(),
            "listening": self.listener.listening,
            "fhir_base_url": self.stub.base_url,
        }


def controller_of(request: Request) -> Controller:
    controller = request.state.controller
    assert isinstance(controller, Controller)
    return controller


async def get_fault(request: Request) -> Response:
    return JSONResponse(controller_of(request).snapshot())


async def parsed(request: Request, model: type[Setting], what: str) -> Setting:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise ControlError(422, f"invalid {what}: {problems}") from None


async def put_fault(request: Request) -> Response:
    controller = controller_of(request)
    await controller.apply(await parsed(request, FaultSetting, "fault"))
    return JSONResponse(controller.snapshot())


def _server(stub: Stub) -> Response:
    return JSONResponse({"kind": stub.kind.value})


async def get_server(request: Request) -> Response:
    return _server(controller_of(request).stub)


async def put_server(request: Request) -> Response:
    stub = controller_of(request).stub
    stub.kind = (await parsed(request, ServerSetting, "server")).kind
    return _server(stub)


def _checks(stub: Stub) -> Response:
    return JSONResponse({"r4_schema": str(stub.schema.path) if stub.schema else None})


async def get_checks(request: Request) -> Response:
    return _checks(controller_of(request).stub)


async def put_checks(request: Request) -> Response:
    stub = controller_of(request).stub
    setting = await parsed(request, ChecksSetting, "checks")
    if setting.r4_schema is None:
        stub.schema = None
        return _checks(stub)
    try:
        # Some 3 MB of JSON: read off the event loop, which serves the FHIR port as well.
        stub.schema = await asyncio.to_thread(R4Schema, Path(setting.r4_schema))
    except SchemaError as error:
        raise ControlError(422, str(error)) from None
    return _checks(stub)


async def get_resources(request: Request) -> Response:
    kind = request.query_params.get("type")
    held = [item.as_json() for item in controller_of(request).stub.resources.all(kind)]
    return JSONResponse({"count": len(held), "resources": held})


def _slots(stub: Stub) -> Response:
    listed = [stub.slots.as_json(record) for record in stub.slots.all()]
    return JSONResponse({"count": len(listed), "slots": listed})


async def get_slots(request: Request) -> Response:
    return _slots(controller_of(request).stub)


async def put_slots(request: Request) -> Response:
    stub = controller_of(request).stub
    stub.set_slots((await parsed(request, SlotsSetting, "slots")).records())
    return _slots(stub)


def _records(request: Request, case_id: str | None) -> Response:
    records = controller_of(request).stub.records(case_id)
    body = [record.model_dump(mode="json") for record in records]
    return JSONResponse({"count": len(body), "received": body})


async def get_received(request: Request) -> Response:
    return _records(request, None)


async def get_received_for_case(request: Request) -> Response:
    return _records(request, request.path_params["case_id"])


async def delete_received(request: Request) -> Response:
    # Only the log: the stub still holds the request ids and resources, so a replay is still
    # a duplicate.
    controller_of(request).stub.clear(cases=False)
    return JSONResponse({"count": 0, "received": []})


async def reset(request: Request) -> Response:
    controller = controller_of(request)
    await controller.apply(FaultSetting(mode=Mode.UP))
    controller.stub.reset()
    return JSONResponse(controller.snapshot())


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "listening": controller_of(request).listener.listening})


async def control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


routes = [
    Route("/control/health", health, methods=["GET"]),
    Route("/control/fault", get_fault, methods=["GET"]),
    Route("/control/fault", put_fault, methods=["PUT"]),
    Route("/control/received", get_received, methods=["GET"]),
    Route("/control/received", delete_received, methods=["DELETE"]),
    Route("/control/received/{case_id:path}", get_received_for_case, methods=["GET"]),
    Route("/control/server", get_server, methods=["GET"]),
    Route("/control/server", put_server, methods=["PUT"]),
    Route("/control/checks", get_checks, methods=["GET"]),
    Route("/control/checks", put_checks, methods=["PUT"]),
    Route("/control/resources", get_resources, methods=["GET"]),
    Route("/control/slots", get_slots, methods=["GET"]),
    Route("/control/slots", put_slots, methods=["PUT"]),
    Route("/control/reset", reset, methods=["POST"]),
]
