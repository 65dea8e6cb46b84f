"""Console accounts: a username, a role and an argon2 hash of the password, kept in Redis.

Passwords are hashed and checked off the event loop (argon2 is slow on purpose) and never leave
this module in any other form.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from redis.asyncio import Redis

from console.tokens import Principal, Role, Tokens
from routing import keys

T = TypeVar("T")

Username = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,31}$")]
MIN_PASSWORD = 10
MAX_PASSWORD = 256


class User(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: Username
    name: Annotated[str, Field(min_length=1, max_length=80)]
    role: Role
    handler: str = ""  # the handler this account acts for, if it takes calls
    disabled: bool = False
    created: float

    @property
    def principal(self) -> Principal:
        return Principal(
            name=self.username, role=self.role, handler=self.handler, account=self.username
        )

    @property
    def supervises(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


class NewUser(BaseModel):
    """An account to create, as typed by a person (CLI or the admin page)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: Username
    name: Annotated[str, Field(min_length=1, max_length=80)]
    role: Role
    handler: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_-]{0,31})?$")] = ""
    password: SecretStr

    @field_validator("password")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        length = len(value.get_secret_value())
        if length < MIN_PASSWORD:
            raise ValueError(f"must be at least {MIN_PASSWORD} characters")
        if length > MAX_PASSWORD:
            raise ValueError(f"must be at most {MAX_PASSWORD} characters")
        return value

    @model_validator(mode="after")
    def _handlers_act_for_a_handler(self) -> NewUser:
        if self.role is Role.HANDLER and not self.handler:
            raise ValueError("a handler account needs the id of the handler it acts for")
        return self


class AccountExists(Exception):
    pass


class HashingBusy(Exception):
    """As many passwords are being checked as the process allows, or as this client may have
    checked at once: try again shortly."""

    def __init__(self, message: str, retry_after_seconds: int = 2) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


HASHING_THREADS = 1  # argon2 is slow on purpose: one core's worth at most, on a pool of its own
HASHING_WAITING = 8  # then refused (429), not queued without bound


class Hashing:
    """argon2 on a small pool of its own, with a cap on how much may wait for it: a flood of
    sign-ins is refused, never queued without bound, and never takes the threads or the CPU that
    other work needs (nothing else runs on this pool, and it runs nothing else). Each client
    takes one turn at a time, so a flood from one address holds one place, not all of them."""

    def __init__(self, threads: int = HASHING_THREADS, waiting: int = HASHING_WAITING) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self.limit = threads + waiting
        self.busy = 0
        self.clients: set[str] = set()  # those with a turn under way

    def turn_of(self, client: str) -> contextlib.ExitStack:
        """The client's one turn, held (`with`) over the checks of one attempt; refused at once
        while it has another. Nothing awaits between the test and the taking: no two can pass."""
        if client in self.clients:
            raise HashingBusy("this client has a password being checked", retry_after_seconds=1)
        self.clients.add(client)
        turn = contextlib.ExitStack()
        turn.callback(self.clients.discard, client)
        return turn

    async def run(self, work: Callable[..., T], *args: object) -> T:
        if self.busy >= self.limit:
            raise HashingBusy(f"{self.busy} passwords being checked")
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)
        finally:
            self.busy -= 1


class Accounts:
    def __init__(
        self, redis: Redis, hasher: PasswordHasher | None = None, hashing: Hashing | None = None
    ) -> None:
        self.redis = redis
        # One lane: argon2's default of four would take four cores for each check, whatever
        # the pool's size (the memory and time costs keep it as hard to guess).
        self.hasher = hasher or PasswordHasher(parallelism=1)
        self.hashing = hashing or Hashing()
        self._dummy: str | None = None

    async def add(self, new: NewUser, now: float) -> User:
        user = User(
            username=new.username,
            name=new.name,
            role=new.role,
            handler=new.handler,
            created=now,
        )
        hashed = await self.hashing.run(self.hasher.hash, new.password.get_secret_value())
        key = keys.user(user.username)
        if not await self.redis.hsetnx(key, "profile", user.model_dump_json()):
            raise AccountExists(f"there is an account {user.username!r} already")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "password", hashed)
            pipe.sadd(keys.USERS, user.username)
            await pipe.execute()
        return user

    async def get(self, username: str) -> User | None:
        raw = await self.redis.hget(keys.user(username), "profile")
        return User.model_validate_json(raw) if raw else None

    async def all(self) -> list[User]:
        names = sorted(cast(set[str], await self.redis.smembers(keys.USERS)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hget(keys.user(name), "profile")
            rows = await pipe.execute()
        return [User.model_validate_json(row) for row in rows if row]

    async def any_supervisor(self) -> bool:
        return any(user.supervises and not user.disabled for user in await self.all())

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user, if the password is theirs and the account is enabled."""
        fields = cast(dict[str, str], await self.redis.hgetall(keys.user(username)))
        if not fields.get("password"):
            await self.hashing.run(self._waste_time, password)  # unknown and known cost alike
            return None
        hashed = fields["password"]
        try:
            await self.hashing.run(self.hasher.verify, hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        user = User.model_validate_json(fields["profile"])
        if user.disabled:
            return None
        if self.hasher.check_needs_rehash(hashed):
            await self._store_password(username, password)
        return user

    async def set_password(self, username: str, password: SecretStr) -> bool:
        if await self.get(username) is None:
            return False
        NewUser(username=username, name="-", role=Role.ADMIN, password=password)  # the policy
        await self._store_password(username, password.get_secret_value())
        return True

    async def disable(self, username: str) -> bool:
        """Disable the account and revoke its API tokens (enabling it again does not restore
        them: new ones are made)."""
        if not await self._set_disabled(username, True):
            return False
        await Tokens(self.redis).revoke_all_of(username)
        return True

    async def enable(self, username: str) -> bool:
        return await self._set_disabled(username, False)

    async def _set_disabled(self, username: str, disabled: bool) -> bool:
        user = await self.get(username)
        if user is None:
            return False
        changed = user.model_copy(update={"disabled": disabled})
        await self.redis.hset(keys.user(username), "profile", changed.model_dump_json())
        return True

    async def _store_password(self, username: str, password: str) -> None:
        hashed = await self.hashing.run(self.hasher.hash, password)
        await self.redis.hset(keys.user(username), "password", hashed)

    def _waste_time(self, password: str) -> None:
        if self._dummy is None:
            self._dummy = self.hasher.hash("not anyone's password")
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy, password)
