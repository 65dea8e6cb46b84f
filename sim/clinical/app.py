"""The clinical-system stub from one factory: the control app, whose lifespan opens (and, while
`down`, closes) the FHIR API on its own port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette

from sim.clinical import control
from sim.clinical.faults import Wall
from sim.clinical.fhir import BASE_PATH, create_fhir_app
from sim.clinical.listener import Listener
from sim.clinical.stub import RECORD_LIMIT, Stub


class ClinicalConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    fhir_port: int = Field(default=8020, ge=1, le=65535)
    record_limit: int = Field(default=RECORD_LIMIT, ge=1)

    @property
    def fhir_base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.fhir_port}{BASE_PATH}"


class State(TypedDict):
    controller: control.Controller


def create_app(config: ClinicalConfig, wall: Wall = time.time) -> Starlette:
    """The control app; serve it on the control port and the FHIR API comes up with it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        stub = Stub(wall, config.fhir_base_url, config.record_limit)
        listener = Listener(create_fhir_app(stub), config.host, config.fhir_port)
        await listener.open()
        try:
            yield {"controller": control.Controller(stub, listener)}
        finally:
            stub.faults.release()
            await listener.close()

    return Starlette(
        routes=control.routes,
        exception_handlers={control.ControlError: control.control_error},
        lifespan=lifespan,
    )
