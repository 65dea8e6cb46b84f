"""Signing in and out: the password, then (for supervisors and admins always, for handlers who
have one or must) a code from an authenticator app on a step of its own, each attempt counted
before it is checked; a fresh session at the end; handlers taken off the floor at sign-out.

The sign-in form is CSRF-protected before any session exists; between the password and the code
there is only a pending sign-in (console/web/pending.py), which opens no page.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console.context import Console
from console.web import csrf, enrolment
from console.web.accounts import HashingBusy
from console.web.auth import home, safe_next, visitor_of
from console.web.context import Web
from console.web.forms import parse
from console.web.mfa import (
    Checked,
    SecondFactors,
    code_attempts,
    is_recovery,
    normalised,
    required,
)
from console.web.pages import error_page, guarded, read_form, route
from console.web.pending import COOKIE as PENDING_COOKIE
from console.web.steps import (
    BUSY,
    CODE_STEP,
    ENROL_STEP,
    CodeForm,
    client_of,
    in_words,
    sign_in_again,
    start_session,
    step_page,
    to_console,
    wait_a_while,
)
from routing.handlers import CHOOSABLE, Handlers, HandlerState, NotAllowed, UnknownHandler

log = logging.getLogger(__name__)


class SignIn(BaseModel):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
    ]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    next: str = ""


def sign_in_page(
    web: Web,
    token: str,
    status: int = 200,
    error: str = "",
    username: str = "",
    next_path: str = "",
) -> Response:
    return step_page(
        web,
        "login.html",
        token,
        status,
        error=error,
        username=username,
        next=safe_next(next_path) or "",
    )


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
    now = console.floor.clock.now()

    def busy(seconds: int) -> Response:
        # Refused at once (never held here): the console stays responsive under a flood.
        page = sign_in_page(web, token, 429, BUSY, attempt.username, attempt.next)
        return wait_a_while(page, seconds)

    try:
        # Before anything is counted: a flood from one client holds one place in the hashing
        # pool, not all of them, and costs nothing more than this refusal.
        turn = web.accounts.hashing.turn_of(client)
    except HashingBusy as refused:
        return busy(refused.retry_after_seconds)
    with turn:
        wait = await web.logins.attempt(attempt.username, client, now)
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
            return wait_a_while(page, wait)
        try:
            user = await web.accounts.authenticate(attempt.username, attempt.password)
        except HashingBusy as refused:
            await web.logins.not_tried(attempt.username, client)
            return busy(refused.retry_after_seconds)
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
    # A right password: the code step keeps its own count, which this does not touch.
    await web.logins.succeeded(attempt.username, client)
    factors = SecondFactors.of(web.accounts)
    enrolled = await factors.enrolled(user.username)
    if not enrolled and not required(user, console.floor.settings.mfa_for_handlers):
        response = to_console(user, attempt.next)
        return await start_session(request, response, user, second_factor=None)
    pending = await web.sessions.pending.start(user.username, attempt.next, now)
    response = RedirectResponse(CODE_STEP if enrolled else ENROL_STEP, status_code=303)
    web.sessions.pending.set_cookie(response, pending)
    return response


def code_page(web: Web, token: str, status: int = 200, error: str = "") -> Response:
    return step_page(web, "login_code.html", token, status, CODE_STEP, error=error)


async def ask_code(request: Request) -> Response:
    web: Web = request.state.web
    pending = await web.sessions.pending.find(request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return sign_in_again()
    token = web.login_tokens.token_of(request.cookies.get(csrf.LOGIN_COOKIE)) or csrf.new_token()
    return code_page(web, token)


async def give_code(request: Request) -> Response:
    web: Web = request.state.web
    console: Console = request.state.console
    form = await read_form(request)
    pending = await web.sessions.pending.find(request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return sign_in_again()
    if not web.login_tokens.valid(request.cookies.get(csrf.LOGIN_COOKIE), form.get(csrf.FIELD, "")):
        return code_page(web, csrf.new_token(), 403, "The form had expired. Please try again.")
    token = form[csrf.FIELD]
    given, _ = parse(CodeForm, form)
    if given is None:
        return code_page(web, token, 422, "Enter the code your authenticator app shows.")
    user = await web.accounts.get(pending.username)
    if user is None or user.disabled:
        await web.sessions.pending.end(pending)
        return sign_in_again()
    client, now = client_of(request), console.floor.clock.now()
    try:
        # A recovery code is checked with argon2, as a password is, so it takes the client's
        # one turn; a code from the app costs nothing to check and waits on no one.
        hashed = is_recovery(normalised(given.code))
        turn = web.accounts.hashing.turn_of(client) if hashed else contextlib.ExitStack()
    except HashingBusy as busy:
        return wait_a_while(code_page(web, token, 429, BUSY), busy.retry_after_seconds)
    with turn:
        counted = code_attempts(user.username)
        wait = await web.logins.attempt(counted, client, now)  # counted before it is checked
        if wait:
            page = code_page(
                web,
                token,
                429,
                f"Too many wrong codes. Try again in {in_words(wait)}, or ask an administrator "
                "to unlock your account.",
            )
            return wait_a_while(page, wait)
        try:
            checked = await SecondFactors.of(web.accounts).check(user.username, given.code, now)
        except HashingBusy as busy:
            await web.logins.not_tried(counted, client)
            return wait_a_while(code_page(web, token, 429, BUSY), busy.retry_after_seconds)
    if checked is Checked.USED:
        log.info("a used code was refused")
        return code_page(web, token, 401, "That code has been used already. Wait for the next one.")
    if checked is Checked.WRONG:
        log.info("a wrong code was refused")
        return code_page(web, token, 401, "That code is not right. Check it and try again.")
    await web.logins.succeeded(counted, client)
    if not await web.sessions.pending.end(pending):
        return sign_in_again()  # another tab finished this sign-in first
    return await start_session(request, to_console(user, pending.next), user, checked)


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
    now = console.floor.clock.now()
    if visitor.user.handler:
        await off_the_floor(console.floor.handlers, visitor.user.handler, now)
    if visitor.user.supervises:
        await console.floor.audit.record(
            visitor.user.username, "console.sign_out", visitor.user.username, now
        )
    await web.sessions.end(visitor.session)
    response = RedirectResponse("/login", status_code=303)
    web.sessions.clear_cookie(response)
    return response


async def off_the_floor(handlers: Handlers, handler_id: str, now: float) -> None:
    """A handler who signs out is offline at once (rather than when their heartbeat lapses); an
    offer goes back to its place. A call under way goes on: offline once it and its wrap-up are
    over."""
    try:
        handler = await handlers.get(handler_id)
        if HandlerState.OFFLINE in CHOOSABLE[handler.state]:
            await handlers.choose(handler_id, HandlerState.OFFLINE, now, "signed out")
    except (UnknownHandler, NotAllowed):
        pass


def routes() -> list[BaseRoute]:
    return [
        Route("/login", guarded(show), methods=["GET"]),
        Route("/login", guarded(sign_in), methods=["POST"]),
        Route(CODE_STEP, guarded(ask_code), methods=["GET"]),
        Route(CODE_STEP, guarded(give_code), methods=["POST"]),
        Route(ENROL_STEP, guarded(enrolment.show_at_sign_in), methods=["GET"]),
        Route(ENROL_STEP, guarded(enrolment.confirm_at_sign_in), methods=["POST"]),
        *(route(view) for view in enrolment.VIEWS),
        Route("/logout", guarded(sign_out), methods=["POST"]),
    ]
