"""Callbacks that keep the caller's place: a queued call becomes a callback at the same score."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis

from routing import keys
from routing.calls import OUTCOMES


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DIALLING = "dialling"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


# Turn a queued call into a callback in one step: the callback takes over the call's queue entry
# (same score, so the same place), the call is counted once as "callback", and the caller's
# record points at the callback so a repeat call is recognised.
_CONVERT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'callback' then return redis.call('HGET', KEYS[1], 'callback') end
if status ~= 'queued' then return false end
local queue = redis.call('HGET', KEYS[1], 'queue')
local score = redis.call('ZSCORE', ARGV[7] .. queue, ARGV[1])
if not score then return false end
local fields = redis.call('HMGET', KEYS[1], 'case_id', 'placement', 'arrival', 'locale', 'priority')
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'case_id', fields[1], 'call_sid', ARGV[1],
           'number', ARGV[3], 'placement', fields[2], 'arrival', fields[3], 'locale', fields[4],
           'priority', fields[5], 'queue', queue, 'created', ARGV[4], 'status', 'pending',
           'attempts', 0)
redis.call('ZREM', ARGV[7] .. queue, ARGV[1])
redis.call('ZADD', ARGV[7] .. queue, score, ARGV[5])
redis.call('HSET', KEYS[1], 'status', 'callback', 'callback', ARGV[2], 'ended', ARGV[4],
           'outcome', 'callback')
redis.call('HINCRBY', KEYS[4], 'callback', 1)
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[3], 'sid', ARGV[1], 'case_id', fields[1], 'callback', ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
return ARGV[2]
"""

_UK_NUMBER = re.compile(r"^0[1-9][0-9]{8,9}$")
_NOT_CALLBACK_NUMBERS = ("0999", "0112", "0111")


def uk_number(digits: str) -> str | None:
    """Keyed-in digits as an E.164 UK number, or None if they cannot be one to call back."""
    digits = digits.strip().rstrip("#")
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    if not _UK_NUMBER.match(digits) or digits.startswith(_NOT_CALLBACK_NUMBERS):
        return None
    return "+44" + digits[1:]


def spoken_digits(number: str) -> str:
    """Digits spaced out so text-to-speech reads them one by one, in the national format."""
    national = "0" + number[3:] if number.startswith("+44") else number.lstrip("+")
    return " ".join(national)


class Callbacks:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._convert = redis.register_script(_CONVERT)

    async def request(self, sid: str) -> None:
        """The caller asked for a callback in the hold loop; they keep their place meanwhile."""
        await self.redis.hset(keys.call(sid), "callback_requested", "1")

    async def requested(self, sid: str) -> bool:
        return bool(await self.redis.hget(keys.call(sid), "callback_requested"))

    async def withdraw(self, sid: str) -> None:
        await self.redis.hdel(keys.call(sid), "callback_requested", "callback_number")

    async def propose_number(self, sid: str, number: str) -> None:
        await self.redis.hset(keys.call(sid), "callback_number", number)

    async def proposed_number(self, sid: str) -> str:
        number = await self.redis.hget(keys.call(sid), "callback_number")
        return str(number or "")

    async def convert(self, sid: str, case_id: str, number: str, caller: str, now: float) -> bool:
        """Make the queued call a callback to `number` in its place; False if it is not queued."""
        created = await self._convert(
            keys=[keys.call(sid), keys.callback(case_id), keys.caller(caller), OUTCOMES],
            args=[
                sid,
                case_id,
                number,
                now,
                keys.callback_member(case_id),
                caller,
                keys.queue_prefix(),
                keys.CALLER_TTL_SECONDS,
            ],
        )
        return created is not None

    async def get(self, callback_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(keys.callback(callback_id)))
