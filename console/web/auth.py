"""Who is asking, from the session cookie, and where each role belongs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from console.tokens import Role
from console.web.accounts import User
from console.web.context import Web
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
    """The signed-in user, or None (no cookie, a forged or expired one, a disabled account)."""
    session = await web.sessions.find(request.cookies.get(COOKIE))
    if session is None:
        return None
    user = await web.accounts.get(session.username)
    if user is None or user.disabled:
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
