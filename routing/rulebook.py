"""Rule set versions: immutable, numbered, one active; every process sees a change within 2 s.

Each process keeps the active set for at most `CACHE_SECONDS`, then checks the active number
(one GET) and loads a new version only when it changed. With Redis unreachable it keeps using
what it last knew (or the packaged default), so routing never stops for want of rules.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from typing import cast

import yaml
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from routing import keys
from routing.audit import Audit
from routing.rules import RuleSet, default_rules, parse_rules

CACHE_SECONDS = 1.0


class VersionInfo(BaseModel):
    number: int
    author: str
    created: float
    comment: str
    active: bool = False


class Version(VersionInfo):
    document: str
    rules: RuleSet


class UnknownVersion(Exception):
    pass


def canonical(rules: RuleSet) -> str:
    """The rule set as YAML, in one stable form, for storage and diffs."""
    return yaml.safe_dump(rules.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def diff(old: RuleSet | None, new: RuleSet, old_name: str, new_name: str) -> str:
    before = canonical(old).splitlines(keepends=True) if old else []
    after = canonical(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=old_name, tofile=new_name))


# Make a version active unless one is (or it is this one), with the queues it serves.
_SEED = """
local active = redis.call('GET', KEYS[1])
if active and active ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[2], unpack(ARGV, 2))
return 1
"""


class RuleBook:
    def __init__(
        self,
        redis: Redis,
        fallback: RuleSet | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`monotonic` is the cache's clock (seconds, only ever differenced)."""
        self.redis = redis
        self._monotonic = monotonic
        self.fallback = fallback or default_rules()
        self._active: tuple[int, RuleSet] | None = None
        self._checked = float("-inf")
        self._seed = redis.register_script(_SEED)

    async def active(self) -> RuleSet:
        if self._monotonic() - self._checked < CACHE_SECONDS and self._active is not None:
            return self._active[1]
        try:
            number = await self.redis.get(keys.RULES_ACTIVE)
            self._checked = self._monotonic()
            if number is None:
                return self.fallback
            if self._active is None or self._active[0] != int(number):
                self._active = (int(number), (await self.get(int(number))).rules)
        except RedisError:
            self._checked = self._monotonic()
        return self._active[1] if self._active else self.fallback

    async def active_number(self) -> int | None:
        number = await self.redis.get(keys.RULES_ACTIVE)
        return int(number) if number is not None else None

    async def seed(self, now: float) -> None:
        """First start: the packaged default becomes version 1, active. The queues the active
        version serves are written beside it (and after an upgrade, from it)."""
        number = await self.active_number()
        if number is None:
            version = await self.create(
                canonical(self.fallback), "lifeline", now, "packaged default"
            )
            queues = sorted(self.fallback.queues)
            await self._seed(
                keys=[keys.RULES_ACTIVE, keys.RULES_QUEUES], args=[version.number, *queues]
            )
        elif not await self.redis.exists(keys.RULES_QUEUES):
            queues = sorted((await self.get(number)).rules.queues)
            await self._seed(keys=[keys.RULES_ACTIVE, keys.RULES_QUEUES], args=[number, *queues])

    async def create(
        self, document: str, author: str, now: float, comment: str = ""
    ) -> VersionInfo:
        """Validate and store a new version (not active). Raises RuleSetError with every problem."""
        rules = parse_rules(document)
        number = int(await self.redis.incr(keys.RULES_NEXT))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.rules_version(number),
                mapping={
                    "document": canonical(rules),
                    "author": author,
                    "created": repr(now),
                    "comment": comment,
                },
            )
            pipe.zadd(keys.RULES_VERSIONS, {str(number): now})
            await pipe.execute()
        await Audit(self.redis).record(
            author, "rules.create", f"version {number}", now, comment=comment
        )
        return VersionInfo(number=number, author=author, created=now, comment=comment)

    async def get(self, number: int) -> Version:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.rules_version(number)))
        if not fields:
            raise UnknownVersion(f"there is no rule set version {number}")
        active = await self.active_number()
        return Version(
            number=number,
            author=fields["author"],
            created=float(fields["created"]),
            comment=fields["comment"],
            active=active == number,
            document=fields["document"],
            rules=parse_rules(fields["document"]),
        )

    async def versions(self) -> list[VersionInfo]:
        members = cast(list[str], await self.redis.zrange(keys.RULES_VERSIONS, 0, -1))
        numbers = [int(member) for member in members]
        active = await self.active_number()
        async with self.redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.hmget(keys.rules_version(number), ["author", "created", "comment"])
            rows = await pipe.execute()
        return [
            VersionInfo(
                number=number,
                author=row[0],
                created=float(row[1]),
                comment=row[2],
                active=number == active,
            )
            for number, row in zip(numbers, rows, strict=True)
        ]

    def forget(self) -> None:
        """Read the active version afresh next time (it has just changed)."""
        self._checked = float("-inf")
