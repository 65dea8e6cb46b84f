"""The phone network as an ASGI app: Twilio's REST subset and the control API, from a factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from starlette.applications import Starlette

from sim.phone import control, rest, rest_conferences
from sim.phone.clock import Clock, SystemClock
from sim.phone.config import PhoneConfig
from sim.phone.network import PhoneNetwork


class State(TypedDict):
    network: PhoneNetwork


def create_app(config: PhoneConfig, clock: Clock | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # No proxy from the environment: webhooks go straight to the application under test.
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as http:
            network = PhoneNetwork(config, http, clock or SystemClock())
            try:
                yield {"network": network}
            finally:
                await network.close()

    return Starlette(
        routes=[
            *rest.routes,
            *rest_conferences.routes,
            *rest.not_found_routes,
            *control.routes,
        ],
        exception_handlers={control.ControlError: control.control_error},
        lifespan=lifespan,
    )
