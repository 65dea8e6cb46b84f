"""What the sign-in steps share (the password, the code, enrolment): pages shown before there is
a session, the client an attempt is counted against, and the session that ends the last step."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console.context import Console
from console.web.accounts import User
from console.web.auth import home, safe_next
from console.web.context import Web
from console.web.mfa import Checked
from console.web.pending import COOKIE as PENDING_COOKIE
from console.web.pending import PATH as PENDING_PATH

CODE_STEP = "/login/code"
ENROL_STEP = "/login/enrol"
BUSY = "Many people are signing in just now. Please try again in a few seconds."


class CodeForm(BaseModel):
    """A code from the authenticator app, or a recovery code."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def step_page(
    web: Web,
    template: str,
    token: str | None,
    status: int = 200,
    path: str = "/login",
    **extra: Any,
) -> Response:
    """A sign-in step's page (nobody is signed in yet), carrying the form's token and its cookie
    (none for a page without a form)."""
    context: dict[str, Any] = {
        "login_token": token,
        "error": "",
        "user": None,
        "csrf": "",
        "nav": [],
        "path": path,
        "notices": [],
        "mode": None,
        "emergencies": None,
        "stream": "",
        "heartbeat": "",
        **extra,
    }
    response = HTMLResponse(web.templates.render(template, context), status_code=status)
    if token is not None:
        web.login_tokens.issue(response, token)
    return response


def sign_in_again() -> Response:
    """No pending sign-in (none, expired, or another browser's): back to the password."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


def wait_a_while(response: Response, seconds: int) -> Response:
    response.headers["Retry-After"] = str(seconds)
    return response


async def start_session(
    request: Request, response: Response, user: User, second_factor: Checked | None
) -> Response:
    """The last step was right: a new session (with or without a second factor), the sign-in's
    cookies gone, and a supervisor's sign-in audited."""
    web: Web = request.state.web
    console: Console = request.state.console
    session = await web.sessions.start(
        user.username, console.floor.clock.now(), second_factor=second_factor is not None
    )
    if user.supervises:
        detail = {"second_factor": second_factor.value} if second_factor else {}
        await console.floor.audit.record(
            user.username, "console.sign_in", user.username, session.created, **detail
        )
    web.sessions.set_cookie(response, session)
    web.sessions.pending.clear_cookie(response)
    web.login_tokens.clear(response)
    return response


def onwards(user: User, next_path: str) -> str:
    return safe_next(next_path) or home(user)


def to_console(user: User, next_path: str) -> Response:
    return RedirectResponse(onwards(user, next_path), status_code=303)
