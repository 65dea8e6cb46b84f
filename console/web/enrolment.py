"""Setting up a second factor: at the first sign-in of an account that needs one (between the
password and the console), or from the console by a handler who chooses to. A QR code drawn here
and the secret as text, confirmed by a code from the app; then ten recovery codes, shown once."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.context import Console
from console.web import csrf
from console.web.accounts import HashingBusy, User
from console.web.auth import EVERYONE, home
from console.web.context import Web
from console.web.forms import parse
from console.web.mfa import (
    AlreadyEnrolled,
    Checked,
    SecondFactors,
    code_attempts,
    grouped,
    new_secret,
    normalised,
    provisioning_uri,
    qr_svg,
    step_of,
)
from console.web.pages import Page, Problem, View, read_form
from console.web.pending import COOKIE as PENDING_COOKIE
from console.web.steps import (
    BUSY,
    CODE_STEP,
    ENROL_STEP,
    CodeForm,
    client_of,
    in_words,
    onwards,
    sign_in_again,
    start_session,
    step_page,
    wait_a_while,
)

log = logging.getLogger(__name__)

CONSOLE_STEP = "/console/second-factor"
WRONG = "That code is not right. Check the app shows Lifeline's code, and try again."


def shown(username: str, secret: str) -> dict[str, Any]:
    """What the enrolment page shows of the secret: a QR code and the key as text."""
    return {"qr": qr_svg(provisioning_uri(secret, username)), "secret": grouped(secret)}


def too_many(wait: int) -> str:
    return (
        f"Too many wrong codes. Try again in {in_words(wait)}, or ask an administrator to "
        "unlock your account."
    )


def enrol_page(
    web: Web, token: str, username: str, secret: str, status: int = 200, error: str = ""
) -> Response:
    return step_page(
        web,
        "enrol.html",
        token,
        status,
        ENROL_STEP,
        error=error,
        action=ENROL_STEP,
        form_token=token,
        **shown(username, secret),
    )


async def show_at_sign_in(request: Request) -> Response:
    web: Web = request.state.web
    pending = await web.sessions.pending.find(request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return sign_in_again()
    if await SecondFactors.of(web.accounts).enrolled(pending.username):
        return RedirectResponse(CODE_STEP, status_code=303)
    pending = await web.sessions.pending.propose(pending, new_secret())
    if not pending.proposed:
        return sign_in_again()
    token = web.login_tokens.token_of(request.cookies.get(csrf.LOGIN_COOKIE)) or csrf.new_token()
    return enrol_page(web, token, pending.username, pending.proposed)


async def confirm_at_sign_in(request: Request) -> Response:
    web: Web = request.state.web
    console: Console = request.state.console
    form = await read_form(request)
    pending = await web.sessions.pending.find(request.cookies.get(PENDING_COOKIE))
    if pending is None:
        return sign_in_again()
    if not pending.proposed:
        return RedirectResponse(ENROL_STEP, status_code=303)
    username, secret = pending.username, pending.proposed
    if not web.login_tokens.valid(request.cookies.get(csrf.LOGIN_COOKIE), form.get(csrf.FIELD, "")):
        token = csrf.new_token()
        return enrol_page(web, token, username, secret, 403, "The form had expired. Try again.")
    token = form[csrf.FIELD]
    given, _ = parse(CodeForm, form)
    if given is None:
        return enrol_page(web, token, username, secret, 422, "Enter the code the app shows.")
    user = await web.accounts.get(username)
    if user is None or user.disabled:
        await web.sessions.pending.end(pending)
        return sign_in_again()
    client, now = client_of(request), console.floor.clock.now()
    counted = code_attempts(username)
    wait = await web.logins.attempt(counted, client, now)  # counted before it is checked
    if wait:
        page = enrol_page(web, token, username, secret, 429, too_many(wait))
        return wait_a_while(page, wait)
    step = step_of(secret, normalised(given.code), now)
    if step is None:
        log.info("a wrong code was refused at enrolment")
        return enrol_page(web, token, username, secret, 401, WRONG)
    try:
        codes = await SecondFactors.of(web.accounts).enrol(username, secret, step)
    except HashingBusy as busy:
        await web.logins.not_tried(counted, client)
        page = enrol_page(web, token, username, secret, 429, BUSY)
        return wait_a_while(page, busy.retry_after_seconds)
    except AlreadyEnrolled:  # set up meanwhile, in another tab: sign in with that one
        await web.sessions.pending.end(pending)
        return sign_in_again()
    await web.logins.succeeded(counted, client)
    await web.sessions.pending.end(pending)
    await console.floor.audit.record(
        username, "account.second_factor", username, now, how="sign-in"
    )
    page = step_page(
        web, "recovery_codes.html", None, codes=codes, onward=onwards(user, pending.next)
    )
    return await start_session(request, page, user, Checked.CODE)


async def console_page(page: Page, status: int = 200, error: str = "") -> Response:
    factors = SecondFactors.of(page.web.accounts)
    if await factors.enrolled(page.user.username):
        left = await factors.recovery_left(page.user.username)
        return await page.render("second_factor.html", title="Second factor", left=left)
    secret = await page.web.sessions.propose(page.session, new_secret())
    return await page.render(
        "enrol.html",
        status,
        title="Set up your second factor",
        error=error,
        action=CONSOLE_STEP,
        form_token=page.session.csrf,
        **shown(page.user.username, secret),
    )


async def show_in_console(page: Page) -> Response:
    return await console_page(page)


async def confirm_in_console(page: Page) -> Response:
    user: User = page.user
    factors = SecondFactors.of(page.web.accounts)
    if await factors.enrolled(user.username):
        raise Problem(409, "You have a second factor already.")
    given, _ = parse(CodeForm, page.form)
    if given is None:
        return await console_page(page, 422, "Enter the code the app shows.")
    client, counted = client_of(page.request), code_attempts(user.username)
    wait = await page.web.logins.attempt(counted, client, page.now)
    if wait:
        return wait_a_while(await console_page(page, 429, too_many(wait)), wait)
    secret = await page.web.sessions.propose(page.session, new_secret())
    step = step_of(secret, normalised(given.code), page.now)
    if step is None:
        return await console_page(page, 422, WRONG)
    try:
        codes = await factors.enrol(user.username, secret, step)
    except HashingBusy:
        await page.web.logins.not_tried(counted, client)
        raise Problem(429, BUSY) from None
    except AlreadyEnrolled:
        raise Problem(409, "You have a second factor already.") from None
    await page.web.logins.succeeded(counted, client)
    await page.web.sessions.confirmed(page.session)
    await page.audit("account.second_factor", user.username, how="console")
    return await page.render(
        "recovery_codes.html", title="Your recovery codes", codes=codes, onward=home(user)
    )


VIEWS = [
    View(CONSOLE_STEP, show_in_console, EVERYONE),
    View(CONSOLE_STEP, confirm_in_console, EVERYONE, "POST"),
]
