"""Console pages as data (path, method, who may see it) and the one wrapper every page goes
through: sign-in, role, CSRF on every POST, form parsing, and errors turned into pages.

Problem (status, message)        raised by a page, shown as an error page
├── Domain errors: unknown handler, callback or version -> 404; a refused change -> 409
├── ApiError (shared with the API, e.g. from wrap-up) -> its status and message
├── AudioUnavailable: a recording unknown or not held -> 404; Twilio failing -> 502
└── RedisError -> 503: the store is unreachable; nothing else is caught (a real 500)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from console.context import Console
from console.errors import ApiError
from console.recording_audio import AudioUnavailable, TwilioUnavailable
from console.tokens import Principal, Role
from console.web import csrf
from console.web.accounts import User
from console.web.auth import SUPERVISORS, Visitor, visitor_of
from console.web.context import Web
from console.web.sessions import Session
from console.web.sse import Feed, stream, updates
from routing.callbacks import UnknownCallback
from routing.floor import Floor
from routing.handlers import NotAllowed, UnknownHandler
from routing.rulebook import UnknownVersion
from routing.stats import WaitingEmergency, emergencies_waiting

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 512 * 1024
TOP_STREAM = "/console/events/top"


class Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def as_problem(error: Exception) -> Problem:
    match error:
        case Problem():
            return error
        case ApiError():
            return Problem(error.status, error.message)
        case UnknownHandler() | UnknownCallback() | UnknownVersion():
            return Problem(404, str(error))
        case NotAllowed():
            return Problem(409, str(error))
        case TwilioUnavailable():
            return Problem(502, error.message)
        case AudioUnavailable():
            return Problem(404, error.message)
        case RedisError():
            return Problem(503, "The store is unreachable just now. Try again in a moment.")
    raise error


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


SUPERVISOR_NAV = (
    NavItem("/console/wallboard", "Wallboard"),
    NavItem("/console/handlers", "Handlers"),
    NavItem("/console/callbacks", "Callbacks"),
    NavItem("/console/recordings", "Recordings"),
    NavItem("/console/rules", "Rules"),
    NavItem("/console/mode", "Mode"),
    NavItem("/console/journal", "Journal"),
    NavItem("/console/audit", "Audit log"),
)


def nav_for(user: User) -> list[NavItem]:
    items = list(SUPERVISOR_NAV) if user.supervises else []
    if user.role is Role.ADMIN:
        items.append(NavItem("/console/accounts", "Accounts"))
    if user.handler:
        items.insert(0, NavItem("/console/handler", "My calls"))
    return items


@dataclass(frozen=True)
class Page:
    """What a page's function receives."""

    request: Request
    console: Console
    web: Web
    session: Session
    user: User
    form: dict[str, str] = field(default_factory=dict)

    @property
    def floor(self) -> Floor:
        return self.console.floor

    @property
    def now(self) -> float:
        return self.floor.clock.now()

    @property
    def principal(self) -> Principal:
        return self.user.principal

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params)

    async def context(self, **extra: Any) -> dict[str, Any]:
        path = self.request.url.path
        return {
            "user": self.user,
            "csrf": self.session.csrf,
            "mode": await self.floor.modes.current(),
            "emergencies": await self.emergencies(),
            "now": self.now,
            "nav": nav_for(self.user),
            "path": path,
            "notices": await self.web.sessions.notices(self.session),
            # Every supervisor page is live at the top (the mode, emergencies waiting), whether
            # or not it has live regions of its own (a page's own stream carries the top too).
            "stream": TOP_STREAM if self.user.supervises else "",
            "heartbeat": "",
            **extra,
        }

    async def render(self, template: str, status: int = 200, **extra: Any) -> Response:
        html = self.web.templates.render(template, await self.context(**extra))
        return HTMLResponse(html, status_code=status)

    def fragment(self, template: str, **context: Any) -> str:
        """A region of a page on its own, for live updates."""
        return self.web.templates.render(template, {"now": self.now, **context})

    async def done(self, notice: str, to: str) -> Response:
        """After a change: say what happened on the next page (post, redirect, get)."""
        await self.web.sessions.notify(self.session, notice)
        return RedirectResponse(to, status_code=303)

    async def audit(self, action: str, target: str, **detail: object) -> None:
        await self.floor.audit.record(self.user.username, action, target, self.now, **detail)

    async def emergencies(self) -> list[WaitingEmergency] | None:
        """Priority-1 callers not yet with a handler or the dispatch line (supervisors only)."""
        if not self.user.supervises:
            return None
        queues = sorted((await self.floor.rulebook.active()).queues)
        return await emergencies_waiting(self.floor.redis, queues, self.now)

    async def mode_region(self) -> dict[str, str]:
        """The top of every page, kept live: the mode, and for supervisors, every emergency
        still waiting."""
        regions = {"mode": self.fragment("_mode.html", mode=await self.floor.modes.current())}
        waiting = await self.emergencies()
        if waiting is not None:
            regions["emergencies"] = self.fragment("_emergencies.html", emergencies=waiting)
        return regions

    def live(self, feeds: list[Feed]) -> Response:
        """This page's regions as a stream of server-sent events, while the session lasts."""
        once = self.request.query_params.get("once") == "1"  # one round, then close

        async def alive() -> bool:
            return await self.web.sessions.alive(self.session)

        events = updates(feeds, alive, self.web.stream_seconds, self.web.tick_seconds, once=once)
        return stream(events)


Action = Callable[[Page], Awaitable[Response]]


@dataclass(frozen=True)
class View:
    path: str
    action: Action
    roles: frozenset[Role] = SUPERVISORS
    method: str = "GET"
    for_handlers: bool = False  # only for accounts that take calls (linked to a handler)


async def read_form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise Problem(413, "That form is too large.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Problem(413, "That form is too large.")
    try:
        form = await request.form(max_files=0, max_fields=100)
    except MultiPartException as error:
        raise Problem(400, f"The form could not be read: {error.message}") from None
    try:
        return {
            name: value for name, value in form.multi_items() if not isinstance(value, UploadFile)
        }
    finally:
        await form.close()


def error_page(web: Web, status: int, message: str, visitor: Visitor | None) -> Response:
    context: dict[str, Any] = {
        "status": status,
        "message": message,
        "user": visitor.user if visitor else None,
        "csrf": visitor.session.csrf if visitor else "",
        "nav": nav_for(visitor.user) if visitor else [],
        "path": "",
        "notices": [],
        "mode": None,
        "emergencies": None,
        "stream": "",
        "heartbeat": "",
    }
    return HTMLResponse(web.templates.render("error.html", context), status_code=status)


def guarded(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """For the pages outside `route` (sign-in and out): errors become pages there too."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as error:
            problem = as_problem(error)
            return error_page(request.state.web, problem.status, problem.message, None)

    return run


def allowed(view: View, user: User) -> bool:
    return user.role in view.roles and (not view.for_handlers or bool(user.handler))


def route(view: View) -> Route:
    async def run(request: Request) -> Response:
        console: Console = request.state.console
        web: Web = request.state.web
        visitor: Visitor | None = None
        try:
            visitor = await visitor_of(request, web)
            if visitor is None:
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return RedirectResponse(
                        f"/login?next={quote(request.url.path)}", status_code=303
                    )
                return error_page(web, 401, "Please sign in again.", None)
            if not allowed(view, visitor.user):
                log.warning(
                    "refused %s %s to %s (%s)",
                    request.method,
                    request.url.path,
                    visitor.user.username,
                    visitor.user.role,
                )
                return error_page(
                    web, 403, "Your account does not give access to this page.", visitor
                )
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await read_form(request)
                if not csrf.matches(visitor.session.csrf, csrf.submitted(request.headers, form)):
                    return error_page(
                        web, 403, "This form has expired. Reload the page and try again.", visitor
                    )
            page = Page(request, console, web, visitor.session, visitor.user, form)
            return await view.action(page)
        except Exception as error:  # mapped in one place; anything else is a real 500
            problem = as_problem(error)
            return error_page(web, problem.status, problem.message, visitor)

    return Route(view.path, run, methods=[view.method])
