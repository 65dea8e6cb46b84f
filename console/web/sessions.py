"""Browser sessions: a random id in a signed, HttpOnly, SameSite cookie; in Redis, what it stands
for (who, their CSRF token, whether they gave a second factor, notices for the next page), under
a digest of the id. Before a session, a pending sign-in (console/web/pending.py) waits for the code.

The signing key is SESSION_SECRET, or, when that is unset, derived from TWILIO_AUTH_TOKEN with
HMAC-SHA256 and a fixed label (so a fresh install needs no extra secret, and the two never match).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import cast

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel
from redis.asyncio import Redis
from starlette.responses import Response

from config.settings import Settings
from console.web.pending import PendingSignIns
from routing import keys
from routing.lua import argument

COOKIE = "lifeline_session"
SESSION_SECONDS = 12 * 3600  # a long shift; after that, sign in again
KEY_LABEL = b"lifeline console session key v1"
NOTICES_KEPT = 5
# What a session's record holds from its start: without them it is no session (a notice written
# as it ended left one behind, with no expiry, before these writes checked for it).
RECORD = ("username", "csrf", "created")

# A session's record written to only while it lasts: once ended (signed out, the account disabled,
# its second factor reset) it is not brought back. KEYS[1] the session.
_NOTIFY = f"""
local a = cjson.decode(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'username') == 0 then return 0 end
local notices = cjson.decode(redis.call('HGET', KEYS[1], 'notices') or '[]')
table.insert(notices, a.text)
while #notices > {NOTICES_KEPT} do table.remove(notices, 1) end
redis.call('HSET', KEYS[1], 'notices', cjson.encode(notices))
return 1
"""
_PROPOSE = """
local a = cjson.decode(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'username') == 0 then return a.secret end
redis.call('HSETNX', KEYS[1], 'proposed', a.secret)
return redis.call('HGET', KEYS[1], 'proposed')
"""
_CONFIRMED = """
if redis.call('HEXISTS', KEYS[1], 'username') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'second_factor', '1')
redis.call('HDEL', KEYS[1], 'proposed')
return 1
"""


class Session(BaseModel):
    id: str
    username: str
    csrf: str
    created: float
    # Signed in with a code after the password. A record from before second factors has no
    # word of one: no second factor (console/web/auth.py sends its person to sign in again).
    second_factor: bool = False


def session_key(settings: Settings) -> bytes:
    secret = settings.session_secret.get_secret_value()
    if secret:
        return secret.encode()
    token = settings.twilio_auth_token.get_secret_value().encode()
    return hmac.new(token, KEY_LABEL, hashlib.sha256).digest()


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(
        self, redis: Redis, key: bytes, secure: bool, seconds: int = SESSION_SECONDS
    ) -> None:
        self.redis = redis
        self.signer = URLSafeTimedSerializer(key, salt="lifeline.session")
        self.secure = secure
        self.seconds = seconds
        self.pending = PendingSignIns(redis, key, secure)
        self._notify = redis.register_script(_NOTIFY)
        self._propose = redis.register_script(_PROPOSE)
        self._confirmed = redis.register_script(_CONFIRMED)

    @classmethod
    def of(cls, redis: Redis, settings: Settings) -> Sessions:
        """The sessions the web process keeps, for a command that must end some."""
        return cls(redis, session_key(settings), settings.public_base_url.scheme == "https")

    async def start(self, username: str, now: float, second_factor: bool = False) -> Session:
        """A new session (a new id at every sign-in, so a planted one is never adopted)."""
        session = Session(
            id=secrets.token_urlsafe(32),
            username=username,
            csrf=secrets.token_urlsafe(32),
            created=now,
            second_factor=second_factor,
        )
        key = keys.session(digest(session.id))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "username": username,
                    "csrf": session.csrf,
                    "created": repr(now),
                    "second_factor": "1" if second_factor else "0",
                },
            )
            pipe.expire(key, self.seconds)
            pipe.sadd(keys.user_sessions(username), digest(session.id))
            pipe.expire(keys.user_sessions(username), self.seconds)
            await pipe.execute()
        return session

    async def find(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            session_id = self.signer.loads(cookie, max_age=self.seconds)
        except BadSignature:
            return None
        if not isinstance(session_id, str):
            return None
        key = keys.session(digest(session_id))
        fields = cast(dict[str, str], await self.redis.hgetall(key))
        if not fields:
            return None
        if not all(name in fields for name in RECORD):
            await self.redis.delete(key)
            return None
        return Session(
            id=session_id,
            username=fields["username"],
            csrf=fields["csrf"],
            created=float(fields["created"]),
            second_factor=fields.get("second_factor") == "1",
        )

    async def alive(self, session: Session) -> bool:
        return bool(await self.redis.hexists(keys.session(digest(session.id)), "username"))

    async def end(self, session: Session) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.session(digest(session.id)))
            pipe.srem(keys.user_sessions(session.username), digest(session.id))
            await pipe.execute()

    async def end_all(self, username: str) -> int:
        digests = cast(set[str], await self.redis.smembers(keys.user_sessions(username)))
        async with self.redis.pipeline(transaction=True) as pipe:
            for each in digests:
                pipe.delete(keys.session(each))
            pipe.delete(keys.user_sessions(username))
            await pipe.execute()
        return len(digests)

    async def propose(self, session: Session, secret: str) -> str:
        """The secret shown to a signed-in person setting up a second factor (the first
        proposed stands, so that a reload shows the same), until a code confirms it."""
        return str(
            await self._propose(
                keys=[keys.session(digest(session.id))], args=argument(secret=secret)
            )
        )

    async def confirmed(self, session: Session) -> None:
        """The person gave a code from the secret proposed: the session has a second factor."""
        await self._confirmed(keys=[keys.session(digest(session.id))])

    async def notify(self, session: Session, text: str) -> None:
        """A notice for the next page shown (after a redirect); none for a session ended."""
        await self._notify(keys=[keys.session(digest(session.id))], args=argument(text=text))

    async def notices(self, session: Session) -> list[str]:
        key = keys.session(digest(session.id))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "notices")
            pipe.hdel(key, "notices")
            raw, _ = await pipe.execute()
        return [str(text) for text in json.loads(raw or "[]")]

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(session.id),
            max_age=self.seconds,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax")
