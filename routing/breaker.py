"""The clinical system's circuit breaker, with hysteresis, shared by every process.

Failures (a failed probe, or a job that could not reach the system) within a window: after K of
them the automatic mode becomes degraded. It returns to normal only after M healthy probes in a
row spanning at least T seconds, so a system that flaps does not flip the mode back and forth.

How soon an outage is noticed, at worst, with the default settings (K = 3, a probe every 2 s given
1.5 s to answer): the system fails just after answering a probe, the next three probes each wait
out their timeout, and the third failure comes 3 x 2 + 1.5 = 7.5 s later. The probes have a
queue and a worker of their own, so none waits behind a case being sent; a job that fails only
brings the verdict sooner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis

from config.settings import Settings
from routing import keys
from routing.mode import Mode, ModeStore


class Outcome(StrEnum):
    HEALTHY = "healthy"
    FAILED = "failed"


@dataclass(frozen=True)
class BreakerSettings:
    failures_to_degrade: int = 3  # K
    failure_window_seconds: float = 20.0
    healthy_to_recover: int = 3  # M
    recovery_seconds: float = 30.0  # T

    @classmethod
    def of(cls, settings: Settings) -> BreakerSettings:
        """The thresholds the settings give, the same in every process that counts outcomes."""
        return cls(
            failures_to_degrade=settings.clinical_failures_to_degrade,
            failure_window_seconds=settings.clinical_failure_window_seconds,
            healthy_to_recover=settings.clinical_healthy_probes_to_recover,
            recovery_seconds=settings.clinical_recovery_seconds,
        )


# Count the outcome and say what the automatic mode should now be ('' for unchanged).
_RECORD = """
local a = cjson.decode(ARGV[1])
local now = tonumber(a.now)
local auto = redis.call('HGET', KEYS[1], 'auto_mode') or 'normal'
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'outcome', a.outcome, 'source', a.source,
           'detail', a.detail, 'at', a.now)
if a.outcome == 'failed' then
  redis.call('DEL', KEYS[3])
  redis.call('ZADD', KEYS[2], now, a.now .. ':' .. a.source)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - a.window))
  redis.call('EXPIRE', KEYS[2], math.ceil(a.window) + 60)
  if auto == 'normal' and redis.call('ZCARD', KEYS[2]) >= a.failures then return 'degraded' end
  return ''
end
if auto == 'normal' then return '' end
if a.source ~= 'probe' then return '' end  -- recovery is judged by probes alone
local count = redis.call('HINCRBY', KEYS[3], 'count', 1)
redis.call('HSETNX', KEYS[3], 'first', a.now)
redis.call('EXPIRE', KEYS[3], math.ceil(a.recovery) + 3600)  -- a streak long unheard is stale
local first = tonumber(redis.call('HGET', KEYS[3], 'first'))
if count >= a.healthy and now - first >= a.recovery then
  redis.call('DEL', KEYS[3], KEYS[2])
  return 'normal'
end
return ''
"""


class Breaker:
    def __init__(self, redis: Redis, modes: ModeStore, settings: BreakerSettings) -> None:
        self.redis = redis
        self.modes = modes
        self.settings = settings
        self._record = redis.register_script(_RECORD)

    async def record(
        self, outcome: Outcome, source: str, now: float, detail: str = ""
    ) -> tuple[Mode, bool] | None:
        """Count a probe's or a job's outcome; if the automatic mode flips, returns the
        effective mode and whether it changed."""
        verdict = await self._record(
            keys=[keys.MODE, keys.CLINICAL_FAILURES, keys.CLINICAL_STREAK, keys.CLINICAL_HEALTH],
            args=[
                json.dumps(
                    {
                        "now": repr(now),
                        "outcome": outcome.value,
                        "source": source,
                        "detail": detail[:200],
                        "window": self.settings.failure_window_seconds,
                        "failures": self.settings.failures_to_degrade,
                        "healthy": self.settings.healthy_to_recover,
                        "recovery": self.settings.recovery_seconds,
                    }
                )
            ],
        )
        if not verdict:
            return None
        if verdict == Mode.DEGRADED:
            reason = (
                f"{self.settings.failures_to_degrade} failures of the clinical system within "
                f"{self.settings.failure_window_seconds:g} s"
            )
        else:
            probes = self.settings.healthy_to_recover
            reason = (
                f"the clinical system answered {probes} probe{'s' if probes != 1 else ''} in a "
                f"row over {self.settings.recovery_seconds:g} s"
            )
        return await self.modes.set_auto(Mode(str(verdict)), reason, now)

    async def history(self, count: int = 100) -> list[dict[str, str]]:
        rows = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrevrange(keys.CLINICAL_HEALTH, count=count),
        )
        return [fields for _, fields in rows]
