"""Signing in and out: the sign-in form (CSRF-protected before any session exists), the limit on
failed attempts, a fresh session at each sign-in, and handlers taken off the floor at sign-out."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console.context import Console
from console.web import csrf
from console.web.accounts import HashingBusy
from console.web.auth import home, safe_next, visitor_of
from console.web.context import Web
from console.web.forms import parse
from console.web.pages import error_page, guarded, read_form
from routing.handlers import CHOOSABLE, HandlerState, NotAllowed, UnknownHandler

log = logging.getLogger(__name__)


class SignIn(BaseModel):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
    ]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    next: str = ""


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def sign_in_page(
    web: Web,
    token: str,
    status: int = 200,
    error: str = "",
    username: str = "",
    next_path: str = "",
) -> Response:
    context: dict[str, Any] = {
        "login_token": token,
        "error": error,
        "username": username,
        "next": safe_next(next_path) or "",
        "user": None,
        "csrf": "",
        "nav": [],
        "path": "/login",
        "notices": [],
        "mode": None,
        "emergencies": None,
        "stream": "",
        "heartbeat": "",
    }
    response = HTMLResponse(web.templates.render("login.html", context), status_code=status)
    web.login_tokens.issue(response, token)
    return response


async def show(request: Request) -> Response:
    web: Web = request.state.web
    visitor = await visitor_of(request, web)
    if visitor is not None:
        return RedirectResponse(home(visitor.user), status_code=303)
    token = web.login_tokens.token_of(request.cookies.get(csrf.LOGIN_COOKIE)) or csrf.new_token()
    return sign_in_page(web, token, next_path=request.query_params.get("next", ""))


async def sign_in(request: Request) -> Response:
    web: Web = request.state.web
    console: Console = request.state.console
    form = await read_form(request)
    cookie = request.cookies.get(csrf.LOGIN_COOKIE)
    if not web.login_tokens.valid(cookie, form.get(csrf.FIELD, "")):
        return sign_in_page(
            web,
            csrf.new_token(),
            403,
            "The sign-in form had expired. Please try again.",
            form.get("username", "")[:64],
        )
    token = form[csrf.FIELD]
    attempt, _ = parse(SignIn, form)
    if attempt is None:
        return sign_in_page(web, token, 422, "Enter your username and password.")
    client = client_of(request)
    wait = await web.logins.attempt(attempt.username, client, console.clock.now())
    if wait:
        page = sign_in_page(
            web,
            token,
            429,
            f"Too many failed sign-in attempts. Try again in {in_words(wait)}, or ask an "
            "administrator to unlock your account.",
            attempt.username,
            attempt.next,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        user = await web.accounts.authenticate(attempt.username, attempt.password)
    except HashingBusy as busy:
        # Refused at once (never held here): the console stays responsive under a flood.
        await web.logins.not_tried(attempt.username, client)
        page = sign_in_page(
            web,
            token,
            429,
            "Many people are signing in just now. Please try again in a few seconds.",
            attempt.username,
            attempt.next,
        )
        page.headers["Retry-After"] = str(busy.retry_after_seconds)
        return page
    if user is None:
        log.info("a sign-in was refused")  # not the name: people type passwords there by mistake
        return sign_in_page(
            web,
            token,
            401,
            "The username or password is not right.",
            attempt.username,
            attempt.next,
        )
    await web.logins.succeeded(attempt.username, client)
    session = await web.sessions.start(user.username, console.clock.now())
    if user.supervises:
        await console.audit.record(user.username, "console.sign_in", user.username, session.created)
    response = RedirectResponse(safe_next(attempt.next) or home(user), status_code=303)
    web.sessions.set_cookie(response, session)
    web.login_tokens.clear(response)
    return response


async def sign_out(request: Request) -> Response:
    web: Web = request.state.web
    console: Console = request.state.console
    visitor = await visitor_of(request, web)
    if visitor is None:
        return RedirectResponse("/login", status_code=303)
    form = await read_form(request)
    if not csrf.matches(visitor.session.csrf, csrf.submitted(request.headers, form)):
        return error_page(
            web, 403, "This form has expired. Reload the page and try again.", visitor
        )
    now = console.clock.now()
    if visitor.user.handler:
        await off_the_floor(console, visitor.user.handler, now)
    if visitor.user.supervises:
        await console.audit.record(
            visitor.user.username, "console.sign_out", visitor.user.username, now
        )
    await web.sessions.end(visitor.session)
    response = RedirectResponse("/login", status_code=303)
    web.sessions.clear_cookie(response)
    return response


async def off_the_floor(console: Console, handler_id: str, now: float) -> None:
    """A handler who signs out is offline at once (rather than when their heartbeat lapses); an
    offer goes back to its place. A call under way goes on: offline once it and its wrap-up are
    over."""
    try:
        handler = await console.handlers.get(handler_id)
        if HandlerState.OFFLINE in CHOOSABLE[handler.state]:
            await console.handlers.choose(handler_id, HandlerState.OFFLINE, now, "signed out")
    except (UnknownHandler, NotAllowed):
        pass


def routes() -> list[BaseRoute]:
    return [
        Route("/login", guarded(show), methods=["GET"]),
        Route("/login", guarded(sign_in), methods=["POST"]),
        Route("/logout", guarded(sign_out), methods=["POST"]),
    ]
