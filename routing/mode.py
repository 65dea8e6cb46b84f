"""Normal or degraded: the mode every process reads, who set it, since when, and why.

Health checks set the automatic mode (see `routing.breaker`); a supervisor may force degraded or
normal, or hand control back to automatic. The effective mode is the forced one if any, else the
automatic one. Each process keeps what it read for at most `CACHE_SECONDS`, so a change is seen
everywhere within 2 seconds; with Redis unreachable, a process keeps what it last knew.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, cast

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from prompts.catalogue import Locale
from routing import keys
from routing.audit import Audit
from routing.lua import argument

CACHE_SECONDS = 1.0
MESSAGE_MAX = 400


class Mode(StrEnum):
    NORMAL = "normal"
    DEGRADED = "degraded"


class Control(StrEnum):
    AUTO = "auto"
    FORCED = "forced"


class ModeState(BaseModel):
    mode: Mode = Mode.NORMAL
    reason: str = "the clinical system is healthy"
    since: float = 0.0
    source: str = "auto"  # "auto", or the supervisor who forced it
    control: Control = Control.AUTO
    auto_mode: Mode = Mode.NORMAL  # what the health checks say, whatever is forced
    auto_reason: str = ""
    auto_since: float = 0.0

    @property
    def degraded(self) -> bool:
        return self.mode is Mode.DEGRADED


class OutageMessage(BaseModel):
    """What callers hear first while degraded; supervisors set the wording in both languages."""

    en: Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX)]
    cy: Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX)]

    def text(self, locale: Locale) -> str:
        return self.cy if locale is Locale.CY else self.en


# Set the automatic mode; the effective one follows it unless a supervisor has forced one.
# Returns the effective mode, whether it changed, and whether the automatic verdict changed.
_SET_AUTO = """
local a = cjson.decode(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'auto_mode', 'control', 'mode')
local auto = f[1] or 'normal'
local control = f[2] or 'auto'
local mode = f[3] or 'normal'
if auto == a.mode then return {mode, 0, 0} end
redis.call('HSET', KEYS[1], 'auto_mode', a.mode, 'auto_reason', a.reason, 'auto_since', a.now)
if control == 'auto' and mode ~= a.mode then
  redis.call('HSET', KEYS[1], 'mode', a.mode, 'reason', a.reason, 'since', a.now,
             'source', 'auto', 'control', 'auto')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'mode', a.mode, 'reason', a.reason,
             'source', 'auto', 'at', a.now)
  return {a.mode, 1, 1}
end
return {mode, 0, 1}
"""
AUTOMATIC = "health checks"  # the actor of automatic changes in the audit log

# A supervisor forces a mode, or gives control back to the automatic one (`mode` 'auto').
_FORCE = """
local a = cjson.decode(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'auto_mode', 'auto_reason', 'mode')
local auto = f[1] or 'normal'
local mode, reason, control = a.mode, a.reason, 'forced'
if a.mode == 'auto' then
  mode, reason, control = auto, (f[2] or '') .. ' (automatic again)', 'auto'
end
local changed = 0
if mode ~= (f[3] or 'normal') then changed = 1 end
redis.call('HSET', KEYS[1], 'mode', mode, 'reason', reason, 'source', a.source, 'control', control)
if changed == 1 then redis.call('HSET', KEYS[1], 'since', a.now) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'mode', mode, 'reason', reason,
           'source', a.source, 'at', a.now)
return {mode, changed}
"""

DEFAULT_MESSAGE = OutageMessage(
    en=(
        "Some of our systems are affected at the moment, so calls may take a little longer. "
        "We will still help you."
    ),
    cy=(
        "Mae rhai o'n systemau wedi'u heffeithio ar hyn o bryd, felly gall galwadau gymryd "
        "ychydig yn hirach. Byddwn yn dal i'ch helpu."
    ),
)


class ModeStore:
    def __init__(
        self, redis: Redis, audit: Audit, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """`monotonic` is the cache's clock (a simulation's is its virtual one)."""
        self.redis = redis
        self.audit = audit
        self._monotonic = monotonic
        self._set_auto = redis.register_script(_SET_AUTO)
        self._force = redis.register_script(_FORCE)
        self._cached: ModeState | None = None
        self._checked = float("-inf")

    async def current(self) -> ModeState:
        """The mode, at most `CACHE_SECONDS` old; what was last known if Redis is gone."""
        if self._cached is not None and self._monotonic() - self._checked < CACHE_SECONDS:
            return self._cached
        try:
            self._cached = await self.read()
        except RedisError:
            if self._cached is None:
                return ModeState()
        self._checked = self._monotonic()
        return self._cached

    async def read(self) -> ModeState:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.MODE))
        state = ModeState.model_validate(
            {k: v for k, v in fields.items() if k in ModeState.model_fields}
        )
        return state

    async def set_auto(self, mode: Mode, reason: str, now: float) -> tuple[Mode, bool]:
        """The health checks' verdict; returns the effective mode and whether it changed."""
        effective, changed, verdict_changed = await self._set_auto(
            keys=[keys.MODE, keys.MODE_EVENTS],
            args=argument(mode=mode.value, reason=reason, now=now),
        )
        if verdict_changed:  # audited like a supervisor's change, overridden or not
            await self.audit.record(
                AUTOMATIC, "mode.auto", mode.value, now, reason=reason, effective=effective
            )
        self._checked = float("-inf")
        return Mode(effective), bool(changed)

    async def force(
        self, mode: Mode | None, reason: str, actor: str, now: float
    ) -> tuple[Mode, bool]:
        """A supervisor's choice (None: automatic again); audited. Returns the effective mode
        and whether it changed."""
        wanted = mode.value if mode is not None else "auto"
        effective, changed = await self._force(
            keys=[keys.MODE, keys.MODE_EVENTS],
            args=argument(mode=wanted, reason=reason, now=now, source=f"supervisor:{actor}"),
        )
        await self.audit.record(actor, "mode.set", wanted, now, reason=reason)
        self._checked = float("-inf")
        return Mode(effective), bool(changed)

    async def history(self, count: int = 50) -> list[dict[str, str]]:
        rows = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrevrange(keys.MODE_EVENTS, count=count),
        )
        return [fields for _, fields in rows]

    async def message(self) -> OutageMessage:
        raw = await self.redis.get(keys.OUTAGE_MESSAGE)
        return OutageMessage.model_validate_json(raw) if raw else DEFAULT_MESSAGE

    async def set_message(self, message: OutageMessage, actor: str, now: float) -> None:
        await self.redis.set(keys.OUTAGE_MESSAGE, message.model_dump_json())
        await self.audit.record(actor, "mode.message", "outage message", now)
