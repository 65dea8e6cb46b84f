"""Call handlers: their states, and how many are on duty."""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from routing import keys


class HandlerState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    BREAK = "break"


ON_DUTY = (HandlerState.AVAILABLE, HandlerState.RESERVED, HandlerState.BUSY, HandlerState.WRAP_UP)


class Handlers:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def on_duty(self) -> int:
        """Handlers taking calls now or about to (on a break or offline do not count)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in ON_DUTY:
                pipe.zcard(keys.handler_state(state))
            counts = await pipe.execute()
        return sum(int(count) for count in counts)
