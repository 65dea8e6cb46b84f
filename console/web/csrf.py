"""CSRF tokens: one per session, sent back by every form (a hidden field) and every fetch (a
header); before sign-in, a signed double-submit token in a short-lived cookie."""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.responses import Response

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "lifeline_login"
LOGIN_SECONDS = 3600  # a sign-in form left open longer than this is refused: reload it


def matches(expected: str, given: str) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given)


def submitted(headers: Headers, form: dict[str, str]) -> str:
    """The token a request carries: the form's hidden field, else the fetch header."""
    return form.get(FIELD) or headers.get(HEADER, "")


class LoginTokens:
    """For the sign-in form, before there is a session to keep a token in."""

    def __init__(self, key: bytes, secure: bool) -> None:
        self.signer = URLSafeTimedSerializer(key, salt="lifeline.login-csrf")
        self.secure = secure

    def issue(self, response: Response, token: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            self.signer.dumps(token),
            max_age=LOGIN_SECONDS,
            path="/login",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def token_of(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            token = self.signer.loads(cookie, max_age=LOGIN_SECONDS)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def valid(self, cookie: str | None, given: str) -> bool:
        return matches(self.token_of(cookie) or "", given)

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            LOGIN_COOKIE, path="/login", secure=self.secure, httponly=True, samesite="strict"
        )


def new_token() -> str:
    return secrets.token_urlsafe(32)
