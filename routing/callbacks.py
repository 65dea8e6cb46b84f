"""Callbacks that keep the caller's place, and every change to one, each an atomic Lua step.

A callback waits in its queue at the score the call had (same priority class, same original
arrival), is offered to a handler in its turn like any caller, is tried by the rule set's retry
policy, and ends made, unreachable (for a clinician to decide) or cancelled: never dropped.

    pending ─offer─▶ reserved ─patient reached─▶ connected ─call over─▶ done
       ▲  │             │ handler missed: back to pending, in place
       │  │             └ patient not reached ─▶ scheduled (retry later) ─due─▶ pending
       │  │                                   └▶ unreachable (attempts used up)
       │  └─cancel─▶ cancelled      (scheduled and unreachable may be cancelled too)
       └── unreachable, re-prioritised by a clinician: back in place, a fresh set of attempts
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.calls import OUTCOMES
from routing.lua import MOVE_HANDLER, STATS
from routing.models import Placement, Priority
from routing.rules import CallbackRule

AT_RISK_SHIFT_MS = 10**11  # an urgent callback at risk goes ahead of its class (about 3 years)
LIVE = ("pending", "scheduled", "reserved", "connected")
LISTED = 500  # the latest callbacks read for a listing by a status that has no index of its own


class CallbackStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RESERVED = "reserved"
    CONNECTED = "connected"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class Callback(BaseModel):
    id: str
    case_id: str
    call_sid: str
    number: str
    line: str
    locale: str
    queue: str
    priority: Priority
    arrival: float
    created: float
    status: CallbackStatus
    attempts: int = 0
    handler: str = ""
    offers: int = 0
    not_before: float | None = None
    due_by: float | None = None
    at_risk: bool = False
    connected_at: float | None = None
    ended_at: float | None = None
    reason: str = ""

    @property
    def overdue_at(self) -> float | None:
        return self.due_by

    def overdue(self, now: float) -> bool:
        return self.due_by is not None and self.status in LIVE and now > self.due_by


class HistoryEntry(BaseModel):
    at: float
    event: str
    detail: dict[str, Any] = {}


@dataclass(frozen=True)
class Booking:
    """What became of a queued call's callback request."""

    callback: str
    kept: bool  # the caller has a live callback already, which stands: none was booked


# Statuses whose every callback is in a sorted set of its own (the Lua below keeps them), so
# that a list of them misses none, however long ago they were booked.
INDEXED = {
    CallbackStatus.UNREACHABLE: keys.CALLBACKS_UNREACHABLE,
    CallbackStatus.SCHEDULED: keys.CALLBACKS_SCHEDULED,
}


_PRELUDE = (
    """
local a = cjson.decode(ARGV[1])
local P = a.prefix
local NOW = a.now
local key = P .. 'callback:' .. a.id
local function history(event, detail)
  redis.call('RPUSH', key .. ':history', cjson.encode({at = tonumber(NOW), event = event,
                                                       detail = detail or {}}))
end
local function score_of(priority, arrival, at_risk)
  local ms = math.floor(tonumber(arrival) * 1000)
  if at_risk == '1' then ms = ms - a.at_risk_shift end
  return tonumber(priority) * 1e13 + ms
end
local function live(id)
  local state = id and redis.call('HGET', P .. 'callback:' .. id, 'status')
  return state == 'pending' or state == 'scheduled' or state == 'reserved' or
         state == 'connected'
end
"""
    + MOVE_HANDLER
    + STATS
)

# Turn a queued call into a callback in one step: it takes over the call's queue entry (same
# score, same place); the call is counted once as "callback"; the caller's record points at it.
# A caller who has a live callback already keeps that one (one live callback per caller): the
# call leaves the queue all the same, ended as that callback's, so it is not counted abandoned.
_CONVERT = (
    _PRELUDE
    + """
local call = P .. 'call:' .. a.sid
local status = redis.call('HGET', call, 'status')
if status == 'callback' then
  local id = redis.call('HGET', call, 'callback')
  return {id, id == a.id and 'booked' or 'kept'}
end
if status ~= 'queued' then return false end
local queue = redis.call('HGET', call, 'queue')
local score = redis.call('ZSCORE', P .. 'queue:' .. queue, a.sid)
if not score then return false end
local existing = a.caller ~= '' and redis.call('HGET', KEYS[1], 'callback')
if live(existing) then
  redis.call('ZREM', P .. 'queue:' .. queue, a.sid)
  redis.call('HSET', call, 'status', 'callback', 'callback', existing, 'ended', NOW,
             'outcome', 'callback')
  redis.call('HINCRBY', KEYS[2], 'callback', 1)
  redis.call('RPUSH', P .. 'callback:' .. existing .. ':history',
             cjson.encode({at = tonumber(NOW), event = 'asked again', detail = {}}))
  return {existing, 'kept'}
end
local f = redis.call('HMGET', call, 'case_id', 'placement', 'arrival', 'locale', 'priority', 'line')
redis.call('HSET', key, 'id', a.id, 'case_id', f[1], 'call_sid', a.sid, 'number', a.number,
           'placement', f[2], 'arrival', f[3], 'locale', f[4], 'priority', f[5], 'queue', queue,
           'line', f[6], 'caller', a.caller, 'created', NOW, 'status', 'pending', 'attempts', 0,
           'due_by', a.due_by, 'at_risk', '0', 'score', score)
redis.call('ZREM', P .. 'queue:' .. queue, a.sid)
redis.call('ZADD', P .. 'queue:' .. queue, score, 'cb:' .. a.id)
redis.call('ZADD', P .. 'callbacks', tonumber(NOW), a.id)
if a.at_risk_at ~= '' then redis.call('ZADD', P .. 'callbacks:at-risk', a.at_risk_at, a.id) end
redis.call('HSET', call, 'status', 'callback', 'callback', a.id, 'ended', NOW,
           'outcome', 'callback')
redis.call('HINCRBY', KEYS[2], 'callback', 1)
count('callbacks', f[5], 'accepted', 1)
if a.caller ~= '' then
  redis.call('HSET', KEYS[1], 'sid', a.sid, 'case_id', f[1], 'callback', a.id)
  redis.call('EXPIRE', KEYS[1], a.caller_ttl)
end
history('booked', {number_ending = string.sub(a.number, -3)})
return {a.id, 'booked'}
"""
)

# The outcome of trying the patient on an offer: reached (connected to the handler), or not
# (tried again later by the rule set's spacing, or, attempts used up, left for a clinician).
_ATTEMPT = (
    _PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'handler', 'offers', 'attempts', 'priority', 'due_by')
if f[1] ~= 'reserved' or f[2] ~= a.handler or tonumber(f[3]) ~= a.offer then return 'stale' end
local attempts = tonumber(f[4]) + 1
redis.call('HSET', key, 'attempts', attempts)
redis.call('ZREM', P .. 'reserved', 'cb:' .. a.id)
local hkey = P .. 'handler:' .. a.handler
local holding = redis.call('HGET', hkey, 'state') == 'reserved' and
                redis.call('HGET', hkey, 'call') == 'cb:' .. a.id
if a.outcome == 'answered' then
  redis.call('HSET', key, 'status', 'connected', 'connected_at', NOW)
  if holding then
    move(a.handler, 'reserved', 'busy', '')
    redis.call('HINCRBY', hkey, 'calls', 1)
    redis.call('HSET', hkey, 'missed', 0)
  end
  count('callbacks', f[5], 'made', 1)
  if f[6] == '' or tonumber(NOW) <= tonumber(f[6]) then
    count('callbacks', f[5], 'made_on_time', 1)
  end
  history('connected', {attempt = attempts, handler = a.handler})
  return 'connected'
end
if holding then
  move(a.handler, 'reserved', 'available', '')
  redis.call('HSET', hkey, 'call', '')
end
redis.call('HSET', key, 'handler', '')
history('not reached', {attempt = attempts, outcome = a.outcome})
if attempts < a.max_attempts then
  local when = tonumber(NOW) + a.spacing
  redis.call('HSET', key, 'status', 'scheduled', 'not_before', tostring(when))
  redis.call('ZADD', P .. 'callbacks:scheduled', when, a.id)
  return 'scheduled'
end
redis.call('HSET', key, 'status', 'unreachable', 'ended_at', NOW)
redis.call('ZADD', P .. 'callbacks:unreachable', tonumber(NOW), a.id)
count('callbacks', f[5], 'unreachable', 1)
history('unreachable', {attempts = attempts})
return 'unreachable'
"""
)

# The conversation is over: the callback is done and the handler wraps up.
_DONE = (
    _PRELUDE
    + """
if redis.call('HGET', key, 'status') ~= 'connected' then return 0 end
redis.call('HSET', key, 'status', 'done', 'ended_at', NOW)
redis.call('ZREM', P .. 'callbacks:at-risk', a.id)
local handler = redis.call('HGET', key, 'handler')
local hkey = P .. 'handler:' .. (handler or '')
if handler and handler ~= '' and redis.call('HGET', hkey, 'state') == 'busy' and
   redis.call('HGET', hkey, 'call') == 'cb:' .. a.id then
  move(handler, 'busy', 'wrap_up', '')
end
history('done', {})
return 1
"""
)

# Cancel (by the caller, or a supervisor): only while it is not being dialled.
_CANCEL = (
    _PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'queue', 'caller', 'priority')
if not f[1] then return 'unknown' end
if f[1] == 'cancelled' then return 'cancelled already' end
if f[1] ~= 'pending' and f[1] ~= 'scheduled' and f[1] ~= 'unreachable' then return f[1] end
redis.call('ZREM', P .. 'queue:' .. f[2], 'cb:' .. a.id)
redis.call('ZREM', P .. 'callbacks:scheduled', a.id)
redis.call('ZREM', P .. 'callbacks:unreachable', a.id)
redis.call('ZREM', P .. 'callbacks:at-risk', a.id)
redis.call('HSET', key, 'status', 'cancelled', 'ended_at', NOW, 'reason', a.reason)
if KEYS[1] ~= '' and redis.call('HGET', KEYS[1], 'callback') == a.id then
  redis.call('HDEL', KEYS[1], 'callback')
end
count('callbacks', f[4], 'cancelled', 1)
history('cancelled', {by = a.actor, reason = a.reason})
return 'cancelled'
"""
)

# A new priority class (a supervisor, or the caller saying it is worse); the callback keeps its
# original arrival time within the new class. For an unreachable callback this is a clinician
# deciding to try again: it goes back in the queue, pending, with a fresh set of attempts (and
# the caller's again), unless the caller has since booked another (one live callback per caller).
# Returns the status after the change, or why there was none.
_REPRIORITISE = (
    _PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'queue', 'arrival', 'priority', 'at_risk', 'placement',
                     'attempts')
if not f[1] then return 'unknown' end
if f[1] ~= 'pending' and f[1] ~= 'scheduled' and f[1] ~= 'unreachable' then return f[1] end
local status = f[1]
if status == 'unreachable' then
  local current = KEYS[1] ~= '' and redis.call('HGET', KEYS[1], 'callback')
  if current and current ~= a.id and live(current) then return 'superseded' end
  status = 'pending'
end
local placement = cjson.decode(f[6])
placement.priority = a.priority
local score = score_of(a.priority, f[3], f[5])
redis.call('HSET', key, 'priority', a.priority, 'placement', cjson.encode(placement),
           'score', score, 'due_by', a.due_by)
redis.call('ZREM', P .. 'callbacks:at-risk', a.id)
if a.at_risk_at ~= '' and f[5] ~= '1' then
  redis.call('ZADD', P .. 'callbacks:at-risk', a.at_risk_at, a.id)
end
if status == 'pending' then redis.call('ZADD', P .. 'queue:' .. f[2], score, 'cb:' .. a.id) end
history('priority', {from = tonumber(f[4]), to = a.priority, by = a.actor, reason = a.reason})
if f[1] == 'unreachable' then
  redis.call('ZREM', P .. 'callbacks:unreachable', a.id)
  redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'not_before', '', 'ended_at', '')
  if KEYS[1] ~= '' then
    redis.call('HSET', KEYS[1], 'callback', a.id)
    redis.call('EXPIRE', KEYS[1], a.caller_ttl)
  end
  history('back in queue', {by = a.actor, attempts_before = tonumber(f[7])})
end
return status
"""
)

# Retries whose time has come go back into their queue, at their place.
_DUE = (
    _PRELUDE
    + """
local due = redis.call('ZRANGEBYSCORE', P .. 'callbacks:scheduled', '-inf', NOW)
for _, id in ipairs(due) do
  local k = P .. 'callback:' .. id
  local f = redis.call('HMGET', k, 'status', 'queue', 'priority', 'arrival', 'at_risk')
  redis.call('ZREM', P .. 'callbacks:scheduled', id)
  if f[1] == 'scheduled' then
    local score = score_of(f[3], f[4], f[5])
    redis.call('HSET', k, 'status', 'pending', 'score', score)
    redis.call('ZADD', P .. 'queue:' .. f[2], score, 'cb:' .. id)
    redis.call('RPUSH', k .. ':history',
               cjson.encode({at = tonumber(NOW), event = 'due', detail = {}}))
  end
end
return #due
"""
)

# Callbacks past the at-risk point of their target move up: a class up (never to 1), or, already
# urgent, ahead of their class. Returns the ids raised.
_AT_RISK = (
    _PRELUDE
    + """
local raised = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'callbacks:at-risk', '-inf', NOW)) do
  redis.call('ZREM', P .. 'callbacks:at-risk', id)
  local k = P .. 'callback:' .. id
  local f = redis.call('HMGET', k, 'status', 'queue', 'priority', 'arrival', 'placement')
  if f[1] == 'pending' or f[1] == 'scheduled' then
    local priority = math.max(2, tonumber(f[3]) - 1)
    local placement = cjson.decode(f[5])
    placement.priority = priority
    local score = score_of(priority, f[4], '1')
    redis.call('HSET', k, 'priority', priority, 'at_risk', '1', 'score', score,
               'placement', cjson.encode(placement))
    if f[1] == 'pending' then redis.call('ZADD', P .. 'queue:' .. f[2], score, 'cb:' .. id) end
    redis.call('RPUSH', k .. ':history', cjson.encode({at = tonumber(NOW), event = 'at risk',
                                                     detail = {priority = priority}}))
    table.insert(raised, id)
  end
end
return raised
"""
)


class Callbacks:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._convert = redis.register_script(_CONVERT)
        self._attempt = redis.register_script(_ATTEMPT)
        self._done = redis.register_script(_DONE)
        self._cancel = redis.register_script(_CANCEL)
        self._reprioritise = redis.register_script(_REPRIORITISE)
        self._due = redis.register_script(_DUE)
        self._at_risk = redis.register_script(_AT_RISK)

    def _args(self, callback_id: str, now: float, **values: object) -> list[str]:
        return [
            json.dumps(
                {
                    "prefix": keys.PREFIX + ":",
                    "id": callback_id,
                    "now": repr(now),
                    "at_risk_shift": AT_RISK_SHIFT_MS,
                    **values,
                }
            )
        ]

    # While the caller is still on the line (the hold loop's offer).

    async def request(self, sid: str) -> None:
        """The caller asked for a callback in the hold loop; they keep their place meanwhile."""
        await self.redis.hset(keys.call(sid), "callback_requested", "1")

    async def withdraw(self, sid: str) -> None:
        await self.redis.hdel(keys.call(sid), "callback_requested", "callback_number")

    async def offered(self, sid: str, priority: Priority, now: float) -> None:
        """Count a caller the first time they are offered a callback."""
        if await self.redis.hsetnx(keys.call(sid), "callback_offered", "1"):
            bucket = f"{keys.PREFIX}:stats:m:{int(now // 60) * 60}"
            hour = f"{keys.PREFIX}:stats:h:{int(now // 3600) * 3600}"
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in (bucket, hour):
                    pipe.hincrbyfloat(key, f"callbacks|{int(priority)}|offered", 1)
                    pipe.expire(key, 172800)
                await pipe.execute()

    async def propose_number(self, sid: str, number: str) -> None:
        await self.redis.hset(keys.call(sid), "callback_number", number)

    async def proposed_number(self, sid: str) -> str:
        number = await self.redis.hget(keys.call(sid), "callback_number")
        return str(number or "")

    async def convert(
        self,
        sid: str,
        case_id: str,
        number: str,
        caller: str,
        placement: Placement,
        rules: CallbackRule,
        now: float,
    ) -> Booking | None:
        """Make the queued call a callback to `number` in its place; None if the call is not
        queued. A caller with a live callback keeps that one (`kept`), and the call ends as it."""
        target = rules.targets_seconds.get(placement.priority)
        created = await self._convert(
            keys=[keys.caller(caller), OUTCOMES],
            args=self._args(
                case_id,
                now,
                sid=sid,
                number=number,
                caller=caller,
                due_by=repr(now + target) if target else "",
                at_risk_at=repr(now + target * rules.at_risk_after) if target else "",
                caller_ttl=keys.CALLER_TTL_SECONDS,
            ),
        )
        if not created:
            return None
        callback_id, outcome = created
        return Booking(callback=str(callback_id), kept=outcome == "kept")

    # Outcomes.

    async def attempted(
        self,
        callback_id: str,
        handler: str,
        offer: int,
        outcome: str,
        rules: CallbackRule,
        now: float,
    ) -> str:
        """The patient was reached (`answered`) or not; returns the callback's new status, or
        `stale` if this offer is no longer the live one."""
        callback = await self.get(callback_id)
        policy = rules.policy(callback.priority)
        result = await self._attempt(
            args=self._args(
                callback_id,
                now,
                handler=handler,
                offer=offer,
                outcome=outcome,
                max_attempts=policy.attempts,
                spacing=rules.spacing(callback.priority, callback.attempts + 1),
            )
        )
        return str(result)

    async def machine_answered(self, callback_id: str, offer: int) -> None:
        await self.redis.hset(keys.callback(callback_id), f"machine:{offer}", "1")

    async def was_machine(self, callback_id: str, offer: int) -> bool:
        return bool(await self.redis.hget(keys.callback(callback_id), f"machine:{offer}"))

    async def outbound_started(self, callback_id: str, offer: int, call_sid: str) -> None:
        """Twilio created the call for this offer (so a retried job must not place another)."""
        await self.redis.hsetnx(keys.callback(callback_id), f"outbound:{offer}", call_sid)

    async def done(self, callback_id: str, now: float) -> bool:
        return bool(await self._done(args=self._args(callback_id, now)))

    async def cancel(self, callback_id: str, actor: str, reason: str, now: float) -> str:
        """Returns `cancelled` when this call cancelled it; otherwise `unknown`, `cancelled
        already`, or the status that prevents it (being dialled, done)."""
        callback = await self.redis.hget(keys.callback(callback_id), "caller")
        caller_key = keys.caller(str(callback)) if callback else ""
        result = await self._cancel(
            keys=[caller_key], args=self._args(callback_id, now, actor=actor, reason=reason)
        )
        return str(result)

    async def reprioritise(
        self,
        callback_id: str,
        priority: Priority,
        actor: str,
        reason: str,
        rules: CallbackRule,
        now: float,
    ) -> str:
        """A new class; its target (from when it was booked) becomes that class's. Returns the
        status after the change: `pending` or `scheduled` (an unreachable callback goes back in
        the queue, pending, with a fresh set of attempts); otherwise `unknown`, `superseded` (an
        unreachable one whose caller has booked another since), or the status that prevents it."""
        created, caller = await self.redis.hmget(keys.callback(callback_id), ["created", "caller"])
        if created is None:
            return "unknown"
        target = rules.targets_seconds.get(priority)
        booked_at = float(created)
        result = await self._reprioritise(
            keys=[keys.caller(str(caller)) if caller else ""],
            args=self._args(
                callback_id,
                now,
                priority=int(priority),
                actor=actor,
                reason=reason,
                due_by=repr(booked_at + target) if target else "",
                at_risk_at=repr(booked_at + target * rules.at_risk_after) if target else "",
                caller_ttl=keys.CALLER_TTL_SECONDS,
            ),
        )
        return str(result)

    async def superseded_by(self, callback_id: str) -> str:
        """The caller's live callback if it is another one (which keeps an unreachable one from
        being put back in the queue), else ""."""
        caller = await self.redis.hget(keys.callback(callback_id), "caller")
        newer = await self.live_for(str(caller or ""))
        return newer.id if newer is not None and newer.id != callback_id else ""

    async def release_due(self, now: float) -> int:
        return int(await self._due(args=self._args("", now)))

    async def raise_at_risk(self, now: float) -> list[str]:
        return [str(item) for item in await self._at_risk(args=self._args("", now))]

    # Reading.

    async def get(self, callback_id: str) -> Callback:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.callback(callback_id)))
        if not fields:
            raise UnknownCallback(f"no callback {callback_id!r}")
        return callback_from_hash(fields)

    async def history(self, callback_id: str) -> list[HistoryEntry]:
        rows = cast(
            list[str], await self.redis.lrange(keys.callback(callback_id) + ":history", 0, -1)
        )
        return [HistoryEntry.model_validate_json(row) for row in rows]

    async def count(self, status: CallbackStatus) -> int:
        """How many callbacks are in a status that has an index of its own (all of them)."""
        return int(await self.redis.zcard(INDEXED[status]))

    async def latest(self, count: int = LISTED) -> list[Callback]:
        return await self._read(keys.CALLBACKS, count)

    async def with_status(
        self, status: CallbackStatus | None, count: int = LISTED
    ) -> list[Callback]:
        """Callbacks in `status` (None: any), newest first: every one, for a status with an
        index of its own (unreachable, scheduled); otherwise those among the latest `count`."""
        index = INDEXED.get(status) if status is not None else None
        rows = await self._read(index, 0) if index else await self.latest(count)
        return [row for row in rows if status is None or row.status is status]

    async def _read(self, index: str, count: int) -> list[Callback]:
        """The callbacks of a sorted set of ids, highest score first; `count` 0 for all."""
        ids = cast(list[str], await self.redis.zrevrange(index, 0, count - 1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for callback_id in ids:
                pipe.hgetall(keys.callback(callback_id))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [callback_from_hash(row) for row in rows if row]

    async def live_for(self, caller: str) -> Callback | None:
        """The caller's live callback, if they have one."""
        if not caller:
            return None
        callback_id = await self.redis.hget(keys.caller(caller), "callback")
        if not callback_id:
            return None
        try:
            callback = await self.get(str(callback_id))
        except UnknownCallback:
            return None
        return callback if callback.status in LIVE else None


class UnknownCallback(Exception):
    pass


def optional(fields: dict[str, str], name: str) -> float | None:
    value = fields.get(name, "")
    return float(value) if value else None


def callback_from_hash(fields: dict[str, str]) -> Callback:
    return Callback(
        id=fields["id"],
        case_id=fields["case_id"],
        call_sid=fields.get("call_sid", ""),
        number=fields["number"],
        line=fields.get("line", ""),
        locale=fields.get("locale", "en-GB"),
        queue=fields["queue"],
        priority=Priority(int(fields["priority"])),
        arrival=float(fields["arrival"]),
        created=float(fields["created"]),
        status=CallbackStatus(fields["status"]),
        attempts=int(fields.get("attempts", 0) or 0),
        handler=fields.get("handler", ""),
        offers=int(fields.get("offers", 0) or 0),
        not_before=optional(fields, "not_before"),
        due_by=optional(fields, "due_by"),
        at_risk=fields.get("at_risk") == "1",
        connected_at=optional(fields, "connected_at"),
        ended_at=optional(fields, "ended_at"),
        reason=fields.get("reason", ""),
    )
