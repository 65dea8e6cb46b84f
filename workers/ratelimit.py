"""A calls-per-second limit shared by every worker (Twilio queues the excess, one a second by
default; keeping under it ourselves keeps the order ours).

Calls are spaced evenly rather than counted per clock second: each call is given the next free
moment, 1 / rate seconds after the one before. A counter per second would let two full seconds'
worth through across the edge between them; spaced moments never put more than the limit into any
second, wherever it starts. Nobody waits long for a moment in a worker: a job whose moment is more
than a sweep away puts its call on the agenda a sweep before it (see workers/callback_calls.py),
and the job the sweep starts then waits out the rest, under a second, so that the calls one sweep
hands out still go each at its own moment.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from routing import keys
from routing.clock import Clock
from routing.lua import argument

# KEYS[1] holds the next free moment, KEYS[2] the moment given to this holder (if any). `now`,
# the `spacing`, the `patience`, how long a holder keeps its moment after it, all in whole
# microseconds (exact in Lua's doubles). Returns the holder's moment, or -1 (nothing given) when
# the next free one is further away than the patience.
_SLOT = """
local a = cjson.decode(ARGV[1])
local held = redis.call('GET', KEYS[2])
if held then return tonumber(held) end
local now, spacing, patience = tonumber(a.now), tonumber(a.spacing), tonumber(a.patience)
local moment = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = moment - now
if wait > patience then return -1 end
redis.call('SET', KEYS[1], string.format('%d', moment + spacing),
           'PX', math.ceil((wait + spacing) / 1000) + 1000)
redis.call('SET', KEYS[2], string.format('%d', moment),
           'PX', math.ceil((wait + tonumber(a.held_after)) / 1000))
return moment
"""
MICROSECONDS = 1_000_000
HELD_AFTER_SECONDS = 600  # a moment passed stays its holder's for a late job to use

KEY = keys.CPS_NEXT
holder_key = keys.cps_held


class CallsPerSecond:
    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self._slot = redis.register_script(_SLOT)

    async def slot(self, holder: str, per_second: float, patience: float = 120.0) -> float:
        """The moment (on the clock) `holder` may place its call: the one it was given before,
        or the next free one, given to it now. Raises TimeoutError, giving nothing, when that is
        further away than `patience`."""
        now = math.floor(self.clock.now() * MICROSECONDS)
        spacing = math.ceil(MICROSECONDS / per_second)  # rounded up: never over the limit
        held_after = HELD_AFTER_SECONDS * MICROSECONDS
        args = argument(
            now=now,
            spacing=spacing,
            patience=math.floor(patience * MICROSECONDS),
            held_after=held_after,
        )
        moment = int(await self._slot(keys=[KEY, holder_key(holder)], args=args))
        if moment < 0:
            raise TimeoutError("no outbound calling slot within the patience allowed")
        return moment / MICROSECONDS

    async def forget(self, holder: str) -> None:
        """The holder's next call (a new try) takes a new moment."""
        await self.redis.delete(holder_key(holder))
