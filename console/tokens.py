"""API tokens: stored only as a hash, each with a role (and, for handlers, whose they are)."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys

TOKEN_PREFIX = "llt_"  # noqa: S105  # a marker, not a secret


class Role(StrEnum):
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Principal(BaseModel):
    """Who is asking: from a token or a signed-in session."""

    name: str
    role: Role
    handler: str = ""  # the handler a handler's credentials act for

    def may_act_for(self, handler_id: str) -> bool:
        return self.role is not Role.HANDLER or self.handler == handler_id


class TokenInfo(BaseModel):
    id: str
    name: str
    role: Role
    handler: str
    created: float


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, name: str, role: Role, now: float, handler: str = "") -> tuple[str, str]:
        """A new token: returns (its id, the token itself, which is shown once and not kept)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        info = TokenInfo(id=token_id, name=name, role=role, handler=handler, created=now)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.token(digest(token)), info.model_dump_json())
            pipe.hset(keys.TOKENS, token_id, digest(token))
            await pipe.execute()
        return token_id, token

    async def verify(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        raw = await self.redis.get(keys.token(digest(token)))
        if raw is None:
            return None
        info = TokenInfo.model_validate_json(raw)
        return Principal(name=info.name, role=info.role, handler=info.handler)

    async def revoke(self, token_id: str) -> bool:
        hashed = await self.redis.hget(keys.TOKENS, token_id)
        if hashed is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.token(str(hashed)))
            pipe.hdel(keys.TOKENS, token_id)
            await pipe.execute()
        return True

    async def all(self) -> list[TokenInfo]:
        hashes = cast(dict[str, str], await self.redis.hgetall(keys.TOKENS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for hashed in hashes.values():
                pipe.get(keys.token(hashed))
            rows = await pipe.execute()
        return [TokenInfo.model_validate_json(row) for row in rows if row]
