"""The phone network as an ASGI app: Twilio's REST subset and the control API, from a factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sim.phone import control, rest, rest_conferences, rest_recordings
from sim.phone.clock import Clock, SystemClock
from sim.phone.config import PhoneConfig
from sim.phone.network import PhoneNetwork
from sim.phone.state import network_of


class State(TypedDict):
    network: PhoneNetwork


class NoteBaseUrl:
    """Tells the network the address each request reached it at: where the URLs it hands out
    for itself (a recording's media) point, unless its configuration names one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            network_of(request).reached_at(str(request.base_url))
        await self.app(scope, receive, send)


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
            *rest_recordings.routes,
            *rest.not_found_routes,
            *control.routes,
        ],
        middleware=[Middleware(NoteBaseUrl)],
        exception_handlers={control.ControlError: control.control_error},
        lifespan=lifespan,
    )
