"""A pending sign-in: the password was right, the second factor is still to come. It is no
session: it opens no page, lives five minutes in Redis under a digest of its id, and is bound to
the browser that gave the password by a signed, HttpOnly, SameSite=Strict cookie for /login only.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import cast

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel
from redis.asyncio import Redis
from starlette.responses import Response

from routing import keys
from routing.lua import argument

COOKIE = "lifeline_sign_in"
PENDING_SECONDS = 5 * 60
PATH = "/login"  # the cookie goes to the sign-in steps (/login/code, /login/enrol) and no further

# KEYS[1]: the pending sign-in. `secret`: one to propose. The secret proposed (the first
# stands, so that a reload shows the same), or "" when the sign-in has expired meanwhile.
_PROPOSE = """
local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
redis.call('HSETNX', KEYS[1], 'proposed', a.secret)
return redis.call('HGET', KEYS[1], 'proposed')
"""


class Pending(BaseModel):
    id: str
    username: str
    next: str  # where the person was going
    created: float
    proposed: str = ""  # the secret shown for enrolment, until a code confirms it


def digest(pending_id: str) -> str:
    return hashlib.sha256(pending_id.encode()).hexdigest()


class PendingSignIns:
    def __init__(self, redis: Redis, key: bytes, secure: bool) -> None:
        self.redis = redis
        self.signer = URLSafeTimedSerializer(key, salt="lifeline.pending-sign-in")
        self.secure = secure
        self._propose = redis.register_script(_PROPOSE)

    async def start(self, username: str, next_path: str, now: float) -> Pending:
        pending = Pending(
            id=secrets.token_urlsafe(32), username=username, next=next_path, created=now
        )
        key = keys.pending_sign_in(digest(pending.id))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"username": username, "next": next_path, "created": repr(now)})
            pipe.expire(key, PENDING_SECONDS)
            await pipe.execute()
        return pending

    async def find(self, cookie: str | None) -> Pending | None:
        if not cookie:
            return None
        try:
            pending_id = self.signer.loads(cookie, max_age=PENDING_SECONDS)
        except BadSignature:
            return None
        if not isinstance(pending_id, str):
            return None
        key = keys.pending_sign_in(digest(pending_id))
        fields = cast(dict[str, str], await self.redis.hgetall(key))
        if not fields:
            return None
        return Pending(
            id=pending_id,
            username=fields["username"],
            next=fields["next"],
            created=float(fields["created"]),
            proposed=fields.get("proposed", ""),
        )

    async def propose(self, pending: Pending, secret: str) -> Pending:
        """Keep the secret shown for enrolment, so that a reload shows the same one ("" once the
        sign-in has expired)."""
        key = keys.pending_sign_in(digest(pending.id))
        proposed = await self._propose(keys=[key], args=argument(secret=secret))
        return pending.model_copy(update={"proposed": str(proposed or "")})

    async def end(self, pending: Pending) -> bool:
        """True for the one caller that ended it (two tabs giving a code at once: one wins)."""
        return bool(await self.redis.delete(keys.pending_sign_in(digest(pending.id))))

    def set_cookie(self, response: Response, pending: Pending) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(pending.id),
            max_age=PENDING_SECONDS,
            path=PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path=PATH, secure=self.secure, httponly=True, samesite="strict"
        )
