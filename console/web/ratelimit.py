"""Sign-in attempts, limited in Redis: a few free failures per username and client, more per
username from anywhere, and more per client whatever the usernames (names made up one after another
get round the first two); past them, a delay that doubles with each failure, up to a ceiling.

An attempt is counted before its password is checked, in one atomic step with the check of the
delay, so concurrent guesses cannot all slip under a limit; a right password takes its count
back. Nothing locks an account for good: the delay for a username from anywhere stays short, so
that strangers failing on purpose cannot keep its owner out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from routing import keys
from routing.lua import argument


@dataclass(frozen=True)
class Limit:
    free: int  # failures before any delay
    first_delay: float  # seconds, doubled with each failure after
    longest_delay: float
    forget_seconds: float  # failures forgotten this long after the delay of the last one


PER_CLIENT = Limit(free=5, first_delay=30, longest_delay=15 * 60, forget_seconds=15 * 60)
PER_USERNAME = Limit(free=20, first_delay=5, longest_delay=60, forget_seconds=15 * 60)
# Short, and forgotten soon: staff behind one address (a site's NAT) share it.
PER_ADDRESS = Limit(free=30, first_delay=10, longest_delay=60, forget_seconds=60)

# KEYS: the username's record from this client, then from anywhere, then the client's whatever
# the username. `now`, and `limits`: for each key its free failures, first and longest delay, and
# forget seconds. Returns the seconds to wait (as a string), "0" when the attempt is counted and
# may go ahead.
_ATTEMPT = """
local a = cjson.decode(ARGV[1])
local now = tonumber(a.now)
local wait = 0
for _, key in ipairs(KEYS) do
  local until_ = tonumber(redis.call('HGET', key, 'until') or '0')
  if until_ > now then wait = math.max(wait, until_ - now) end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local at = (i - 1) * 4
  local free, first = tonumber(a.limits[at + 1]), tonumber(a.limits[at + 2])
  local longest = tonumber(a.limits[at + 3])
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  if failures >= free then
    redis.call('HSET', key, 'until', now + math.min(longest, first * 2 ^ (failures - free)))
  end
  redis.call('EXPIRE', key, math.ceil(longest + tonumber(a.limits[at + 4])))
end
return '0'
"""

# KEYS: records to take one counted attempt back from. `free`: their free failures.
_TAKE_BACK = """
local a = cjson.decode(ARGV[1])
for i, key in ipairs(KEYS) do
  local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
  if failures <= 1 then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'failures', failures - 1)
    if failures - 1 < tonumber(a.free[i]) then redis.call('HDEL', key, 'until') end
  end
end
return 0
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key(username: str, client: str) -> str:
    """Per username, then per client: an unlock clears every client's record at once."""
    return keys.login_failures(f"{_digest(username)}:{_digest(client)}")


def _address_key(client: str) -> str:
    """The client's, whatever the usernames (not 32 hex digits, so no username's record)."""
    return keys.login_failures(f"address:{_digest(client)}")


class LoginLimiter:
    def __init__(
        self,
        redis: Redis,
        per_client: Limit = PER_CLIENT,
        per_username: Limit = PER_USERNAME,
        per_address: Limit = PER_ADDRESS,
    ) -> None:
        self.redis = redis
        self.limits = (per_client, per_username, per_address)  # in the order of `_keys`
        self._attempt = redis.register_script(_ATTEMPT)
        self._take_back = redis.register_script(_TAKE_BACK)

    def _keys(self, username: str, client: str) -> list[str]:
        name = username.strip().lower()
        return [_key(name, client), _key(name, "*"), _address_key(client)]

    async def attempt(self, username: str, client: str, now: float) -> int:
        """Count an attempt, as a failure until `succeeded` says otherwise, and return 0; or,
        within a delay, count nothing and return the whole seconds to wait."""
        limits: list[str] = []
        for limit in self.limits:
            figures = (limit.free, limit.first_delay, limit.longest_delay, limit.forget_seconds)
            limits += [str(figure) for figure in figures]
        args = argument(now=now, limits=limits)
        wait = float(await self._attempt(keys=self._keys(username, client), args=args))
        return math.ceil(wait)

    async def wait(self, username: str, client: str, now: float) -> int:
        """Whole seconds before this username may try again from this client (0: now)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in self._keys(username, client):
                pipe.hget(name, "until")
            rows = await pipe.execute()
        return math.ceil(max([0.0, *(float(until) - now for until in rows if until)]))

    async def succeeded(self, username: str, client: str) -> None:
        """The password was right: this client starts afresh with this username, and the
        attempt is no failure."""
        mine, *others = self._keys(username, client)
        await self.redis.delete(mine)
        await self._take_back(keys=others, args=self._free(self.limits[1:]))

    async def not_tried(self, username: str, client: str) -> None:
        """The password was never checked (the process was too busy): take the attempt back."""
        await self._take_back(keys=self._keys(username, client), args=self._free(self.limits))

    @staticmethod
    def _free(limits: Sequence[Limit]) -> list[str]:
        return argument(free=[str(limit.free) for limit in limits])

    async def clear(self, username: str) -> None:
        """Forget the failures of this username from everywhere (an administrator unlocked it,
        or its password was reset)."""
        pattern = keys.login_failures(f"{_digest(username.strip().lower())}:*")
        names = [name async for name in self.redis.scan_iter(match=pattern, count=1000)]
        if names:
            await self.redis.delete(*names)
