"""A calls-per-second limit shared by every worker (Twilio queues the excess, one a second by
default; keeping under it ourselves keeps the order ours)."""

from __future__ import annotations

import asyncio
import math

from redis.asyncio import Redis

from routing import keys
from routing.clock import Clock

# One counter per second; past the limit, the caller is told how long to wait for the next.
_TAKE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], 5) end
return count
"""


class CallsPerSecond:
    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self._take = redis.register_script(_TAKE)

    async def acquire(self, per_second: float, patience: float = 120.0) -> float:
        """Wait for a slot; returns how long it waited. Fractional limits (0.5 a second) are
        kept as a count per window of 1 / rate seconds."""
        window = max(1.0, 1.0 / per_second)
        allowed = max(1, math.floor(per_second * window))
        waited = 0.0
        while True:
            now = self.clock.now()
            slot = math.floor(now / window)
            count = int(await self._take(keys=[f"{keys.PREFIX}:cps:{slot}"]))
            if count <= allowed:
                return waited
            pause = (slot + 1) * window - now
            if waited + pause > patience:
                raise TimeoutError("no outbound calling slot within the patience allowed")
            await asyncio.sleep(pause)
            waited += pause
