"""What the console pages need beyond the domain's `Console`: accounts, sessions, the sign-in
limiter and the templates; built by the composition root and handed over in request state."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from config.settings import Settings
from console.web.accounts import Accounts
from console.web.csrf import LoginTokens
from console.web.ratelimit import LoginLimiter
from console.web.sessions import Sessions, session_key
from console.web.templates import Templates

STREAM_SECONDS = 25.0  # then the browser reconnects: a restart never waits long on a stream
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Web:
    accounts: Accounts
    sessions: Sessions
    logins: LoginLimiter
    login_tokens: LoginTokens
    templates: Templates
    stream_seconds: float = STREAM_SECONDS
    tick_seconds: float = TICK_SECONDS


def build(settings: Settings, redis: Redis) -> Web:
    key = session_key(settings)
    secure = settings.public_base_url.scheme == "https"
    return Web(
        accounts=Accounts(redis),
        sessions=Sessions(redis, key, secure),
        logins=LoginLimiter(redis),
        login_tokens=LoginTokens(key, secure),
        templates=Templates(),
    )
