"""A callback's dial intent: its latest outbound call, recorded before Twilio is asked to place it
(workers/callback_calls.py), then what became of it, in Redis under one key a callback; and each
line's record (from one number to another), so that no intent adopts another callback's call."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from routing import keys
from routing.callbacks import DIALLING
from routing.number_hash import NumberHash
from workers.telephony import CallSeen

log = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 5  # Twilio's clock against ours; its date_created is in whole seconds
# A request for an intent makes its call, if ever, within this of the intent: the request is given
# up after REQUEST_TIMEOUT_SECONDS, and Twilio, behind, may still act on one it had received.
LATEST_SECONDS = 30
# Nothing in the Calls list by then (our clock): no call was made for the intent.
SETTLED_SECONDS = LATEST_SECONDS + CLOCK_SKEW_SECONDS
# While a callback's intent is unknown and younger than this, no other callback begins one on the
# same line: the two calls' times, by Twilio's clock in whole seconds, could not be told apart.
LINE_HOLD_SECONDS = LATEST_SECONDS + 2 * CLOCK_SKEW_SECONDS + 1


@dataclass(frozen=True)
class DialTiming:
    """How late Twilio may make a call after its request (`latest`, `TWILIO_LATEST_CALL_SECONDS`:
    30 s against Twilio, less against a network known to act at once), and what follows: when
    an intent is settled, and how long its line is held."""

    latest: float = LATEST_SECONDS

    @property
    def settled(self) -> float:
        return self.latest + CLOCK_SKEW_SECONDS

    @property
    def line_hold(self) -> float:
        return self.latest + 2 * CLOCK_SKEW_SECONDS + 1


LINE_KEEP_SECONDS = 3600  # a line's SIDs are kept this long: any look for an intent is sooner
LINE_BUSY = -2  # `Intents.begin`: another callback's call on the line is not yet known


def line_digest(numbers: NumberHash, to: str, from_: str) -> str:
    """Names a line's record by the keyed hash every number in Redis is known by. Its records
    live minutes, so a new NUMBER_HASH_KEY only forgets them."""
    return numbers(f"{to}|{from_}")


def outbound_field(offer: int) -> str:
    """The callback's field for an offer's call: its CallSid, or a dialling mark."""
    return f"outbound:{offer}"


# KEYS[1] the callback's dial intent, KEYS[2] the callback, KEYS[3] the intent's line (sorted by
# the time of the intent: `sid:<CallSid>` for each call recorded, `hold:<callback>:<marker>` for
# each intent whose call is not yet known). ARGV[1], JSON: `expected`, the marker the intent must
# have now ('' for none); the `intent` to write; the offer's `field` and what becomes of it
# (`op`): 'mark' sets `value` if the offer is still the handler's and reserved, its call is not
# recorded already (a CallSid in the field) and no other callback holds the line, 'sid' sets
# `value` over a dialling mark, 'unmark' removes `value`, 'keep' leaves it. Returns 1; 0 when
# another run's intent is there, or (mark) the offer's call is recorded; -1 when the offer is no
# longer live; -2 when another callback's intent on the line is unknown and young.
_WRITE = """
local a = cjson.decode(ARGV[1])
local current = redis.call('GET', KEYS[1])
local marker = ''
if current then marker = cjson.decode(current)['marker'] end
if marker ~= a.expected then return 0 end
local hold = 'hold:' .. a.callback .. ':'
if a.op == 'mark' then
  local f = redis.call('HMGET', KEYS[2], 'status', 'handler', 'offers')
  if f[1] ~= 'reserved' or f[2] ~= a.handler or f[3] ~= a.offer then return -1 end
  local placed = redis.call('HGET', KEYS[2], a.field)
  if placed and string.sub(placed, 1, #a.dialling) ~= a.dialling then return 0 end
  if a.line then
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], a.held_since, '+inf')) do
      if string.sub(m, 1, 5) == 'hold:' and string.sub(m, 1, #hold) ~= hold then return -2 end
    end
    redis.call('ZADD', KEYS[3], a.at, hold .. a.marker)
  end
  redis.call('HSET', KEYS[2], a.field, a.value)
elseif a.op == 'sid' then
  local held = redis.call('HGET', KEYS[2], a.field)
  if not held or string.sub(held, 1, #a.dialling) == a.dialling then
    redis.call('HSET', KEYS[2], a.field, a.value)
  end
elseif a.op == 'unmark' then
  if redis.call('HGET', KEYS[2], a.field) == a.value then redis.call('HDEL', KEYS[2], a.field) end
end
if a.line then
  if a.sid ~= '' then redis.call('ZADD', KEYS[3], a.at, 'sid:' .. a.sid) end
  if a.sid ~= '' or a.void then redis.call('ZREM', KEYS[3], hold .. a.marker) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', a.forget_before)
  redis.call('EXPIRE', KEYS[3], a.line_ttl)
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
    line: str = ""  # `line_digest` of `to` and `caller_id`: its line's record ('' for none)

    @property
    def mark(self) -> str:
        return DIALLING + self.marker

    @property
    def unknown(self) -> bool:
        return not self.sid and not self.void


class Intents:
    """Every write compares the marker, so a run never overwrites another run's intent."""

    def __init__(self, redis: Redis, callback_id: str, timing: DialTiming = DialTiming()) -> None:
        self.redis = redis
        self.callback_id = callback_id
        self.timing = timing
        self._write = redis.register_script(_WRITE)

    async def get(self) -> DialIntent | None:
        raw = await self.redis.get(keys.callback_dial(self.callback_id))
        return None if raw is None else DialIntent.model_validate_json(raw)

    async def begin(self, intent: DialIntent, handler: str, replacing: str) -> int:
        """Record `intent` in place of the intent whose marker is `replacing` ('' for none),
        marking its offer as dialling, if that offer is still the handler's and no other
        callback's call on the line is unknown (LINE_BUSY)."""
        return await self._swap(replacing, intent, "mark", intent.mark, handler)

    async def taken(self, intent: DialIntent) -> frozenset[str]:
        """The calls on the intent's line recorded as made for intents (another callback's,
        or this one's before): none of them can be the intent's."""
        if not intent.line:
            return frozenset()
        since = intent.at - self.timing.line_hold - self.timing.latest
        found = await self.redis.zrangebyscore(keys.dial_line(intent.line), since, "+inf")
        members = cast(list[str], found)
        return frozenset(m.removeprefix("sid:") for m in members if m.startswith("sid:"))

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
            "callback": self.callback_id,
            "marker": intent.marker,
            "line": bool(intent.line),
            "at": intent.at,
            "sid": intent.sid,
            "void": intent.void,
            "held_since": intent.at - self.timing.line_hold,
            "forget_before": intent.at - LINE_KEEP_SECONDS,
            "line_ttl": 2 * LINE_KEEP_SECONDS,
        }
        keys_ = [
            keys.callback_dial(self.callback_id),
            keys.callback(self.callback_id),
            keys.dial_line(intent.line),
        ]
        return int(await self._write(keys=keys_, args=[json.dumps(args)]))


def pick(
    intent: DialIntent,
    calls: Iterable[CallSeen],
    taken: Collection[str] = (),
    timing: DialTiming = DialTiming(),
) -> CallSeen | None:
    """The call Twilio made for `intent` among those listed to and from its numbers: one placed
    through the REST API, made by Twilio's clock (give or take the skew) no earlier than the
    intent and no later than a request for it could make one, and neither one of the
    callback's earlier calls nor one recorded for an intent (`taken`, another callback's on
    the same line). Should there be more than one (there should not: no two callbacks' unknown
    calls share a line), the first made at or after the intent."""
    since = math.floor(intent.at)
    until = intent.at + timing.settled
    ours = [
        call
        for call in calls
        if call.direction == "outbound-api"
        and since - CLOCK_SKEW_SECONDS <= call.created <= until
        and call.sid not in intent.earlier
        and call.sid not in taken
    ]
    if len(ours) > 1:
        log.warning("%d calls could be the one placed", len(ours), extra={"marker": intent.marker})
    return min(
        ours,
        key=lambda call: (0, call.created) if call.created >= since else (1, -call.created),
        default=None,
    )
