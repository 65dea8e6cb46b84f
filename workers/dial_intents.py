"""A callback's dial intent: its latest outbound call, recorded before Twilio is asked to place it
(workers/callback_calls.py), then what became of it, in Redis under one key a callback."""

from __future__ import annotations

import json
import logging
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from routing import keys
from routing.callbacks import DIALLING
from workers.telephony import CallSeen

log = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 5  # Twilio's clock against ours; its date_created is in whole seconds


def outbound_field(offer: int) -> str:
    """The callback's field for an offer's call: its CallSid, or a dialling mark."""
    return f"outbound:{offer}"


# KEYS[1] the callback's dial intent, KEYS[2] the callback. ARGV[1], JSON: `expected`, the marker
# the intent must have now ('' for none); the `intent` to write; the offer's `field` and what
# becomes of it (`op`): 'mark' sets `value` if the offer is still the handler's and reserved,
# 'sid' sets `value` over a dialling mark, 'unmark' removes `value`, 'keep' leaves it.
# Returns 1; 0 when another run's intent is there; -1 when the offer is no longer live.
_WRITE = """
local a = cjson.decode(ARGV[1])
local current = redis.call('GET', KEYS[1])
local marker = ''
if current then marker = cjson.decode(current)['marker'] end
if marker ~= a.expected then return 0 end
if a.op == 'mark' then
  local f = redis.call('HMGET', KEYS[2], 'status', 'handler', 'offers')
  if f[1] ~= 'reserved' or f[2] ~= a.handler or f[3] ~= a.offer then return -1 end
  redis.call('HSET', KEYS[2], a.field, a.value)
elseif a.op == 'sid' then
  local held = redis.call('HGET', KEYS[2], a.field)
  if not held or string.sub(held, 1, #a.dialling) == a.dialling then
    redis.call('HSET', KEYS[2], a.field, a.value)
  end
elseif a.op == 'unmark' then
  if redis.call('HGET', KEYS[2], a.field) == a.value then redis.call('HDEL', KEYS[2], a.field) end
end
redis.call('SET', KEYS[1], a.intent, 'EX', a.ttl)
return 1
"""
Op = Literal["mark", "sid", "unmark", "keep"]


class DialIntent(BaseModel):
    """A callback's latest call, recorded before Twilio is asked to place it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    marker: str  # this attempt's own: in the offer's dialling mark, and checked on every write
    offer: int
    leg: Literal["handler", "patient"]  # who is rung first
    to: str
    caller_id: str
    at: float  # on Lifeline's clock, just before the request
    attempts: int = 0  # the callback's attempts counted before this call
    sid: str = ""  # Twilio's CallSid, once known
    void: bool = False  # nothing was placed (a 429, a refusal, or none found)
    looked: float | None = None  # when a look at Twilio's list first found nothing
    watched: bool = False  # adopted while live: looked at until it ends
    ended: bool = False
    earlier: tuple[str, ...] = ()  # the callback's calls before this one: never adopted for it

    @property
    def mark(self) -> str:
        return DIALLING + self.marker

    @property
    def unknown(self) -> bool:
        return not self.sid and not self.void


class Intents:
    """Every write compares the marker, so a run never overwrites another run's intent."""

    def __init__(self, redis: Redis, callback_id: str) -> None:
        self.redis = redis
        self.callback_id = callback_id
        self._write = redis.register_script(_WRITE)

    async def get(self) -> DialIntent | None:
        raw = await self.redis.get(keys.callback_dial(self.callback_id))
        return None if raw is None else DialIntent.model_validate_json(raw)

    async def begin(self, intent: DialIntent, handler: str, replacing: str) -> int:
        """Record `intent` in place of the intent whose marker is `replacing` ('' for none),
        marking its offer as dialling, if that offer is still the handler's."""
        return await self._swap(replacing, intent, "mark", intent.mark, handler)

    async def update(self, before: DialIntent, after: DialIntent, op: Op = "keep") -> bool:
        value = after.sid if op == "sid" else before.mark
        return await self._swap(before.marker, after, op, value, "") == 1

    async def _swap(
        self, expected: str, intent: DialIntent, op: Op, value: str, handler: str
    ) -> int:
        args = {
            "expected": expected,
            "intent": intent.model_dump_json(),
            "field": outbound_field(intent.offer),
            "op": op,
            "value": value,
            "handler": handler,
            "offer": str(intent.offer),
            "dialling": DIALLING,
            "ttl": keys.CALL_TTL_SECONDS,
        }
        keys_ = [keys.callback_dial(self.callback_id), keys.callback(self.callback_id)]
        return int(await self._write(keys=keys_, args=[json.dumps(args)]))


def pick(intent: DialIntent, calls: list[CallSeen]) -> CallSeen | None:
    """The call Twilio made for `intent` among those listed to and from its numbers: one placed
    through the REST API, made no earlier than the intent by Twilio's clock (give or take the
    skew), and not one of the callback's earlier calls. Should there be more than one (there
    should not), the first made at or after the intent."""
    since = math.floor(intent.at)
    ours = [
        call
        for call in calls
        if call.direction == "outbound-api"
        and call.created >= since - CLOCK_SKEW_SECONDS
        and call.sid not in intent.earlier
    ]
    if len(ours) > 1:
        log.warning("%d calls could be the one placed", len(ours), extra={"marker": intent.marker})
    return min(
        ours,
        key=lambda call: (0, call.created) if call.created >= since else (1, -call.created),
        default=None,
    )
