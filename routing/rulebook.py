"""Rule set versions: immutable, numbered, one active; every process sees a change within 2 s.

Each process keeps the active set for at most `CACHE_SECONDS`, then checks the active number
(one GET) and loads a new version only when it changed. With Redis unreachable it keeps using
what it last knew (or the packaged default), so routing never stops for want of rules.

A version is checked in full once, when it is created, in a thread of the rule book's own; it is
stored with its parsed form, read back with only its shape checked, in a thread of its own too,
and kept parsed (versions are immutable), so no event loop is ever busy with a rule set's size.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial
from typing import TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from routing import keys
from routing.audit import Audit
from routing.lua import argument
from routing.rules import RuleSet, default_rules, parse_rules

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
PARSED_VERSIONS = 16  # kept parsed, most recently used first

T = TypeVar("T")

# libyaml's emitter when it is there: the same text, five times faster.
DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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
    data = rules.model_dump(mode="json")
    return yaml.dump(data, Dumper=DUMPER, sort_keys=False, allow_unicode=True)


def checked(
    document: str, monotonic: Callable[[], float], number_exceptions: frozenset[str] = frozenset()
) -> RuleSet:
    """Validate a new document (raising RuleSetError), and log what it took."""
    started, outcome = monotonic(), "refused"
    try:
        rules = parse_rules(document, number_exceptions=number_exceptions)
        outcome = "valid"
        return rules
    finally:
        took = round(monotonic() - started, 3)
        size = len(document.encode("utf-8"))
        log.info("rule set checked", extra={"outcome": outcome, "bytes": size, "seconds": took})


def stored_rules(parsed: str | None, document: str) -> RuleSet:
    """A stored version, from its parsed form (JSON; from its text if it was stored without
    one): checked when it was created, so only its shape is checked again."""
    if parsed is not None:
        with suppress(ValidationError):  # a form this code no longer reads: the text decides
            return RuleSet.model_validate_json(parsed, context={"trusted": True})
    return parse_rules(document, trusted=True)


def stranded(future: asyncio.Future[RuleSet]) -> bool:
    """Still running for an event loop other than this one (a test's, or a job's, now over)."""
    return not future.done() and future.get_loop() is not asyncio.get_running_loop()


class OwnThread:
    """One thread, started when first needed, for one kind of work on rule sets: no event loop
    runs it, and it waits behind nothing else (the default executor is shared)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[], T]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)


def diff(old: RuleSet | None, new: RuleSet, old_name: str, new_name: str) -> str:
    before = canonical(old).splitlines(keepends=True) if old else []
    after = canonical(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=old_name, tofile=new_name))


# Make a version active unless one is (or it is this one), with the queues it serves.
_SEED = """
local a = cjson.decode(ARGV[1])
local active = redis.call('GET', KEYS[1])
if active and active ~= a.version then return 0 end
redis.call('SET', KEYS[1], a.version)
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[2], unpack(a.queues))
return 1
"""


class RuleBook:
    def __init__(
        self,
        redis: Redis,
        audit: Audit,
        fallback: RuleSet | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        number_exceptions: frozenset[str] = frozenset(),
    ) -> None:
        """`monotonic` is the cache's clock, and times checks (seconds, only ever differenced);
        `number_exceptions` are numbers outside the number policy that new versions may dial."""
        self.redis = redis
        self.audit = audit
        self.number_exceptions = number_exceptions
        self._monotonic = monotonic
        self.fallback = fallback or default_rules()
        self._active: tuple[int, RuleSet] | None = None
        self._checked = float("-inf")
        self._seed = redis.register_script(_SEED)
        self._work = OwnThread("rule-check")  # new documents, diffs: the staff's work
        self._reads = OwnThread("rule-read")  # stored versions: what routing waits for
        self._parsed: OrderedDict[int, tuple[str, asyncio.Future[RuleSet]]] = OrderedDict()
        self.reads = 0  # stored versions parsed (each once while it stays among the parsed)

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
        except Exception as error:  # routing never stops for want of rules
            # Written by a later release (after a rollback), or half lost: routing goes on by
            # what this process knew, or the packaged default, and asks again next period.
            self._checked = self._monotonic()
            log.error(
                "rule set version %s cannot be read, routing by the last known: %s", number, error
            )
        return self._active[1] if self._active else self.fallback

    async def active_number(self) -> int | None:
        number = await self.redis.get(keys.RULES_ACTIVE)
        return int(number) if number is not None else None

    async def seed(self, now: float) -> None:
        """First start: the packaged default becomes version 1, active. The queues the active
        version serves are written beside it (and after an upgrade, from it)."""
        number = await self.active_number()
        if number is None:
            version = await self.store(self.fallback, "lifeline", now, "packaged default")
            queues = sorted(self.fallback.queues)
            args = argument(version=version.number, queues=queues)
            await self._seed(keys=[keys.RULES_ACTIVE, keys.RULES_QUEUES], args=args)
        elif not await self.redis.exists(keys.RULES_QUEUES):
            queues = sorted((await self.get(number)).rules.queues)
            args = argument(version=number, queues=queues)
            await self._seed(keys=[keys.RULES_ACTIVE, keys.RULES_QUEUES], args=args)

    async def run(self, work: Callable[[], T]) -> T:
        """CPU work on rule sets for the staff (a check, a diff, placing problems in a
        document), in the rule book's own thread: never on an event loop."""
        return await self._work.run(work)

    async def check(self, document: str) -> RuleSet:
        """Validate a new document. Raises RuleSetError with every problem."""
        return await self.run(partial(checked, document, self._monotonic, self.number_exceptions))

    async def create(
        self, document: str, author: str, now: float, comment: str = ""
    ) -> VersionInfo:
        """Validate and store a new version (not active). Raises RuleSetError with every problem."""
        return await self.store(await self.check(document), author, now, comment)

    async def store(
        self, rules: RuleSet, author: str, now: float, comment: str = ""
    ) -> VersionInfo:
        """Store a validated rule set as a new version (not active), with its parsed form."""
        document, parsed = await self.run(lambda: (canonical(rules), rules.model_dump_json()))
        number = int(await self.redis.incr(keys.RULES_NEXT))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.rules_version(number),
                mapping={
                    "document": document,
                    "parsed": parsed,
                    "author": author,
                    "created": repr(now),
                    "comment": comment,
                },
            )
            pipe.zadd(keys.RULES_VERSIONS, {str(number): now})
            await pipe.execute()
        await self.audit.record(author, "rules.create", f"version {number}", now, comment=comment)
        return VersionInfo(number=number, author=author, created=now, comment=comment)

    async def get(self, number: int) -> Version:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.rules_version(number)))
        if not fields:
            raise UnknownVersion(f"there is no rule set version {number}")
        active = await self.active_number()
        version = {
            "number": number,
            "author": fields["author"],
            "created": float(fields["created"]),
            "comment": fields["comment"],
            "active": active == number,
            "document": fields["document"],
            "rules": await self._parse(number, fields),
        }
        # Pydantic runs a model's own validator again on an instance given as a field: as a
        # stored version, so that it is not checked in full (here, on the event loop) again.
        return Version.model_validate(version, context={"trusted": True})

    async def _parse(self, number: int, fields: dict[str, str]) -> RuleSet:
        """The version parsed once in this process, however many ask at once. Its text is
        compared too: a number can come round again if Redis lost its data."""
        document = fields["document"]
        known = self._parsed.get(number)
        if known is None or known[0] != document or stranded(known[1]):
            work = partial(stored_rules, fields.get("parsed"), document)
            known = (document, asyncio.ensure_future(self._reads.run(work)))
            self._parsed[number] = known
            self.reads += 1
            while len(self._parsed) > PARSED_VERSIONS:
                self._parsed.popitem(last=False)
        self._parsed.move_to_end(number)
        try:
            return await asyncio.shield(known[1])
        except Exception:
            if self._parsed.get(number) is known:
                del self._parsed[number]  # to be tried again, not remembered
            raise

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
