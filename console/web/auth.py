"""Who is asking, from the session cookie, and where each role belongs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from console.context import Console
from console.tokens import Role
from console.web.accounts import User
from console.web.context import Web
from console.web.mfa import required
from console.web.sessions import COOKIE, Session

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
EVERYONE = frozenset(Role)
SAFE_NEXT = re.compile(r"^/console/[A-Za-z0-9/_.-]*$")


@dataclass(frozen=True)
class Visitor:
    session: Session
    user: User


async def visitor_of(request: Request, web: Web) -> Visitor | None:
    """The signed-in user, or None (no cookie, a forged or expired one, a disabled account, or
    a session without the second factor the account now needs: one from before second factors,
    or made while the role or MFA_FOR_HANDLERS did not need one). Such a session is ended, so
    that its person signs in again, code and all."""
    session = await web.sessions.find(request.cookies.get(COOKIE))
    if session is None:
        return None
    user = await web.accounts.get(session.username)
    console: Console = request.state.console
    needs = user is not None and required(user, console.floor.settings.mfa_for_handlers)
    if user is None or user.disabled or (needs and not session.second_factor):
        await web.sessions.end(session)
        return None
    return Visitor(session=session, user=user)


def home(user: User) -> str:
    return "/console/wallboard" if user.supervises else "/console/handler"


def safe_next(path: str | None) -> str | None:
    """Only a console path of ours: never another site, never a scheme-relative URL."""
    if path and SAFE_NEXT.match(path) and "//" not in path and ".." not in path:
        return path
    return None
