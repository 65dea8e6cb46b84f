"""A calls-per-second limit shared by every worker (Twilio queues the excess, one a second by
default; keeping under it ourselves keeps the order ours).

Calls are spaced evenly rather than counted per clock second: each caller reserves the next free
moment, 1 / rate seconds after the one before, and waits for it. A counter per second would let
two full seconds' worth through across the edge between them; spaced calls never put more than the
limit into any second, wherever it starts.
"""

from __future__ import annotations

import asyncio
import math

from redis.asyncio import Redis

from routing import keys
from routing.clock import Clock

# KEYS[1] holds the next free moment. ARGV: now, the spacing, the patience, all in whole
# microseconds (exact in Lua's doubles). Returns the wait before the reserved moment, or -1
# (nothing reserved) when that is past the patience.
_RESERVE = """
local now, spacing, patience = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local moment = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = moment - now
if wait > patience then return -1 end
redis.call('SET', KEYS[1], string.format('%d', moment + spacing),
           'PX', math.ceil((wait + spacing) / 1000) + 1000)
return wait
"""
MICROSECONDS = 1_000_000

KEY = f"{keys.PREFIX}:cps:next"


class CallsPerSecond:
    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, per_second: float, patience: float = 120.0) -> float:
        """Reserve the next moment a call may be placed; returns how long to wait for it.
        Raises TimeoutError, reserving nothing, when that is further away than `patience`."""
        now = math.floor(self.clock.now() * MICROSECONDS)
        spacing = math.ceil(MICROSECONDS / per_second)  # rounded up: never over the limit
        args = (now, spacing, math.floor(patience * MICROSECONDS))
        wait = int(await self._reserve(keys=[KEY], args=args))
        if wait < 0:
            raise TimeoutError("no outbound calling slot within the patience allowed")
        return wait / MICROSECONDS

    async def acquire(self, per_second: float, patience: float = 120.0) -> float:
        """Wait for a reserved moment; returns how long it waited."""
        wait = await self.reserve(per_second, patience)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait
