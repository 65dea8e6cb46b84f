"""Sign-in attempts, limited in Redis: a few failures per username and client, and a larger
number per username from anywhere (client addresses can be spoofed behind a proxy)."""

from __future__ import annotations

import hashlib
import math

from redis.asyncio import Redis

from routing import keys

PER_CLIENT = 5
PER_USERNAME = 20
WINDOW_SECONDS = 15 * 60


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key(username: str, client: str) -> str:
    """Per username, then per client: a password reset clears every client's count at once."""
    return keys.login_failures(f"{_digest(username)}:{_digest(client)}")


class LoginLimiter:
    def __init__(
        self,
        redis: Redis,
        per_client: int = PER_CLIENT,
        per_username: int = PER_USERNAME,
        window_seconds: int = WINDOW_SECONDS,
    ) -> None:
        self.redis = redis
        self.limits = (per_client, per_username)  # in the order of `_keys`
        self.window = window_seconds

    def _keys(self, username: str, client: str) -> list[str]:
        name = username.strip().lower()
        return [_key(name, client), _key(name, "*")]

    async def wait(self, username: str, client: str) -> int:
        """Seconds before this username may try again from this client (0: now)."""
        names = self._keys(username, client)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(name)
                pipe.pttl(name)
            rows = await pipe.execute()
        wait = 0
        for index, limit in enumerate(self.limits):
            count, ttl = int(rows[2 * index] or 0), int(rows[2 * index + 1])
            if count >= limit and ttl > 0:
                wait = max(wait, math.ceil(ttl / 1000))
        return wait

    async def failed(self, username: str, client: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for name in self._keys(username, client):
                pipe.set(name, 0, ex=self.window, nx=True)  # the window starts at the first
                pipe.incr(name)
            await pipe.execute()

    async def succeeded(self, username: str, client: str) -> None:
        await self.redis.delete(self._keys(username, client)[0])

    async def clear(self, username: str) -> None:
        """Forget the failures of this username from everywhere (its password was reset)."""
        pattern = keys.login_failures(f"{_digest(username.strip().lower())}:*")
        names = [name async for name in self.redis.scan_iter(match=pattern, count=1000)]
        if names:
            await self.redis.delete(*names)
