"""The consoles' routes and middleware, for the composition root to add to the app."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from config.settings import Settings
from console.web import (
    audit,
    callbacks,
    floor,
    handler_console,
    journal,
    login,
    mode,
    phone,
    recordings,
    ruleset,
    security,
    users,
    wallboard,
    what_if,
)
from console.web.auth import EVERYONE, home
from console.web.pages import TOP_STREAM, Page, View, route
from console.web.security import SecurityHeaders
from console.web.sse import Feed


async def start(page: Page) -> Response:
    return RedirectResponse(home(page.user), status_code=303)


async def top(page: Page) -> Response:
    """The top of every supervisor page, live: the mode and every emergency still waiting."""
    return page.live([Feed(page.mode_region)])


VIEWS: list[View] = [
    View("/console", start, EVERYONE),
    View("/console/", start, EVERYONE),
    View(TOP_STREAM, top),
    *handler_console.VIEWS,
    *phone.VIEWS,
    *wallboard.VIEWS,
    *floor.VIEWS,
    *callbacks.VIEWS,
    *recordings.VIEWS,
    *ruleset.VIEWS,
    *what_if.VIEWS,
    *mode.VIEWS,
    *journal.VIEWS,
    *audit.VIEWS,
    *users.VIEWS,
]


STATIC = "/console/static"


def routes() -> list[BaseRoute]:
    return [*login.routes(), *(route(view) for view in VIEWS), static()]


def handlers_routes() -> list[BaseRoute]:
    """The handler's console page and everything it sends (no sign-in: that is the console's)."""
    return [*(route(view) for view in [*handler_console.VIEWS, *phone.VIEWS]), static()]


def static() -> Mount:
    return Mount(STATIC, StaticFiles(packages=[("console", "static")]), name="static")


def middleware(settings: Settings) -> list[Middleware]:
    sdk = phone.sdk_origin(settings) if settings.softphone else None
    return [
        Middleware(
            SecurityHeaders,
            secure=settings.public_base_url.scheme == "https",
            csp=security.policy(sdk),
        )
    ]
