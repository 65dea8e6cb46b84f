"""API tokens: stored only as a hash, each with a role (and, for handlers, whose they are), the
account it belongs to (one disabled or gone opens nothing), when it expires, and the scopes
an administrator gave it beyond its role (activating rule sets needs `rules`)."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import cast

from pydantic import BaseModel, ValidationError, model_validator
from redis.asyncio import Redis

from routing import keys

TOKEN_PREFIX = "llt_"  # noqa: S105  # a marker, not a secret
LIFETIME_DAYS = 90.0
OWN_LIFETIME_DAYS = 1.0  # a token of no account, Lifeline's own: a drill lasts under 20 h at most


class Role(StrEnum):
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


RANKS = (Role.HANDLER, Role.SUPERVISOR, Role.ADMIN)  # each may do what those before it may


class Scope(StrEnum):
    """What a token may do beyond its role, only when made to (never by default)."""

    RULES = "rules"  # activate rule set versions (what decides where every call goes)


SCOPED_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})  # the roles a scope may be given to


class Principal(BaseModel):
    """Who is asking: from a token or a signed-in session."""

    name: str
    role: Role
    handler: str = ""  # the handler a handler's credentials act for
    account: str = ""  # the account behind it
    token_id: str = ""  # the token's id, when it is a token
    scopes: frozenset[Scope] = frozenset()

    def may_act_for(self, handler_id: str) -> bool:
        return self.role is not Role.HANDLER or self.handler == handler_id

    @property
    def may_decide_where_calls_ring(self) -> bool:
        """Activate a rule set, or give a handler a phone number: only a token an administrator
        made with the rules scope, never a supervisor's ordinary one, which a script or a leak
        may hold. (The console asks a session for its second factor instead.)"""
        return Scope.RULES in self.scopes


NOBODYS = "revoked: made before tokens belonged to accounts"
NO_ACCOUNT = "revoked: of no account, and made to last longer than Lifeline's own (a day at most)"


class Holder(BaseModel):
    """What a token asks of the account it belongs to, read from the account's profile as
    console/web/accounts.py keeps it. `disabled` is required: a profile this cannot read refuses
    the token rather than opening it."""

    disabled: bool


class TokenInfo(BaseModel):
    """A token as kept. One kept before tokens expired (no `expires`) expires `LIFETIME_DAYS`
    after it was made, at once if when is not known; one kept before tokens belonged to
    accounts (no account, no expiry) is nobody's, and refused as if revoked: no account can
    answer for it and disabling none would stop it. (A token Lifeline makes for itself, the
    drill's, has no account either, but always a short expiry.)"""

    id: str
    name: str
    role: Role
    handler: str
    created: float
    account: str = ""  # "" only for Lifeline's own (the drill's, a day at most), or nobody's
    expires: float
    scopes: list[Scope] = []  # none for tokens made before scopes
    nobodys: bool = False  # kept from before tokens belonged to accounts: refused

    @model_validator(mode="before")
    @classmethod
    def _from_before_expiry(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("expires") is not None:
            return data
        created = data.get("created")
        made = float(created) if isinstance(created, int | float) and created > 0 else 0.0
        return data | {
            "created": made,  # 0: not known, and then it expired at once
            "expires": made + LIFETIME_DAYS * 86400 if made else 0.0,
            "nobodys": not data.get("account"),
        }

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def refused(self, now: float) -> str:
        """Why the token opens nothing (revoked as nobody's, or as of no account but longer
        lived than Lifeline's own, or expired), or "" if it may, as far as its record says (its
        account is read when it is used)."""
        if self.nobodys:
            return NOBODYS
        if not self.account and self.expires - self.created > OWN_LIFETIME_DAYS * 86400:
            return NO_ACCOUNT
        return "expired" if self.expired(now) else ""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(
        self,
        name: str,
        role: Role,
        now: float,
        handler: str = "",
        account: str = "",
        lifetime_days: float | None = None,
        scopes: frozenset[Scope] = frozenset(),
    ) -> tuple[str, str]:
        """A new token: returns (its id, the token itself, which is shown once and not kept).
        One of no account is Lifeline's own (the drill's): no account can be disabled to stop
        it, so it lives a day at most, and a day unless told."""
        if scopes and role not in SCOPED_ROLES:
            raise ValueError(f"a {role} token cannot have scopes")
        if lifetime_days is None:
            lifetime_days = LIFETIME_DAYS if account else OWN_LIFETIME_DAYS
        if not account and lifetime_days > OWN_LIFETIME_DAYS:
            raise ValueError("a token of no account (Lifeline's own) lives a day at most")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        info = TokenInfo(
            id=token_id,
            name=name,
            role=role,
            handler=handler,
            created=now,
            account=account,
            expires=now + lifetime_days * 86400,
            scopes=sorted(scopes),
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.token(digest(token)), info.model_dump_json())
            pipe.hset(keys.TOKENS, token_id, digest(token))
            if account:
                pipe.sadd(keys.account_tokens(account), token_id)
            await pipe.execute()
        return token_id, token

    async def verify(self, token: str, now: float) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or not token.isascii():
            return None
        raw = await self.redis.get(keys.token(digest(token)))
        if raw is None:
            return None
        info = TokenInfo.model_validate_json(raw)
        if info.refused(now) or (info.account and not await self._open(info.account)):
            return None
        return Principal(
            name=info.name,
            role=info.role,
            handler=info.handler,
            account=info.account,
            token_id=info.id,
            scopes=frozenset(info.scopes),
        )

    async def _open(self, account: str) -> bool:
        """Whether the account is there and not disabled. Disabling revokes its tokens, but one
        made as it was disabled, after the revoking looked, is still kept: this refuses it."""
        profile = await self.redis.hget(keys.user(account), "profile")
        if profile is None:
            return False
        try:
            return not Holder.model_validate_json(profile).disabled
        except ValidationError:
            return False

    async def revoke_all_of(self, account: str) -> int:
        """Revoke every token of an account (it was disabled); how many there were."""
        token_ids = cast(set[str], await self.redis.smembers(keys.account_tokens(account)))
        revoked = [token_id for token_id in sorted(token_ids) if await self.revoke(token_id)]
        await self.redis.delete(keys.account_tokens(account))
        return len(revoked)

    async def revoke(self, token_id: str) -> bool:
        hashed = await self.redis.hget(keys.TOKENS, token_id)
        if hashed is None:
            return False
        raw = await self.redis.get(keys.token(str(hashed)))
        account = TokenInfo.model_validate_json(raw).account if raw else ""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.token(str(hashed)))
            pipe.hdel(keys.TOKENS, token_id)
            if account:
                pipe.srem(keys.account_tokens(account), token_id)
            await pipe.execute()
        return True

    async def all(self) -> list[TokenInfo]:
        hashes = cast(dict[str, str], await self.redis.hgetall(keys.TOKENS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for hashed in hashes.values():
                pipe.get(keys.token(hashed))
            rows = await pipe.execute()
        found = [TokenInfo.model_validate_json(row) for row in rows if row]
        return sorted(found, key=lambda info: (info.created, info.id))
