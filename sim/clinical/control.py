"""The control API (JSON under /control/, no auth, on its own port, always up): switch faults,
read and clear what the FHIR API received, reset."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.clinical.faults import FaultSetting, Mode
from sim.clinical.listener import Listener, ListenerError
from sim.clinical.stub import Stub


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


async def put_fault(request: Request) -> Response:
    controller = controller_of(request)
    try:
        setting = FaultSetting.model_validate_json(await request.body())
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise ControlError(422, f"invalid fault: {problems}") from None
    await controller.apply(setting)
    return JSONResponse(controller.snapshot())


def _records(request: Request, case_id: str | None) -> Response:
    records = controller_of(request).stub.records(case_id)
    body = [record.model_dump(mode="json") for record in records]
    return JSONResponse({"count": len(body), "received": body})


async def get_received(request: Request) -> Response:
    return _records(request, None)


async def get_received_for_case(request: Request) -> Response:
    return _records(request, request.path_params["case_id"])


async def delete_received(request: Request) -> Response:
    # Only the log: the stub still holds the request ids, so a replay is still a duplicate.
    controller_of(request).stub.clear(cases=False)
    return JSONResponse({"count": 0, "received": []})


async def reset(request: Request) -> Response:
    controller = controller_of(request)
    await controller.apply(FaultSetting(mode=Mode.UP))
    controller.stub.clear(cases=True)
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
    Route("/control/received/{case_id}", get_received_for_case, methods=["GET"]),
    Route("/control/reset", reset, methods=["POST"]),
]
