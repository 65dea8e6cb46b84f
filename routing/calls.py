"""The call record in Redis and its transitions, each one atomic (a Lua script) and idempotent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis

from prompts.catalogue import Locale
from routing import keys
from routing.figures import LONDON
from routing.lua import MOVE_HANDLER, STATS, Script, script
from routing.models import Answers, Call, CallRecord, CallStatus, Placement, case_id_for
from routing.number_hash import NumberHash, caller_key

OUTCOMES = keys.CALL_OUTCOMES

# Creates the record once per CallSid; says whether the number has an open case from another call,
# and which of its callbacks is still to be made (`keys.CALLBACK_TO_COME`).
_OPEN = script(
    """
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'sid', a.sid, 'case_id', a.case_id, 'caller', a.caller,
             'line', a.line, 'locale', a.locale, 'created', NOW, 'status', 'ivr')
  redis.call('EXPIRE', KEYS[1], a.ttl)
  redis.call('HINCRBY', KEYS[3], 'received', 1)
  created = 1
end
local previous = false
local callback = ''
if a.caller ~= '' then
  local seen = redis.call('HMGET', KEYS[2], 'sid', 'at')
  previous = seen[1]
  -- "Recently" on Lifeline's clock: the key's expiry only tidies up (a simulated day runs
  -- faster than Redis's clock).
  if seen[2] and tonumber(seen[2]) + a.caller_ttl < tonumber(NOW) then previous = false end
  local id = redis.call('HGET', KEYS[2], 'callback')
  if id then
    local state = redis.call('HGET', K.callback .. id, 'status')
    if state and CALLBACK_TO_COME[state] then callback = id end
  end
end
local recognised = 0
if previous and previous ~= a.sid then recognised = 1 end
return {created, recognised, callback}
""",
)

# Queue a call (creating its record if Redis was down when the call came in). The call keeps the
# arrival time it first had, so a requeue never loses its place; a call already past the queue
# (connected, dispatched, ended) is left alone, which makes a retried webhook harmless.
# ARGV[1] is a JSON object (one argument is cheaper to send than a dozen); times are strings.
_ENQUEUE = script(
    STATS,
    """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('HSET', KEYS[1], 'sid', a.sid, 'case_id', a.case_id, 'caller', a.caller,
             'line', a.line, 'locale', a.locale, 'created', a.now, 'status', 'ivr')
  redis.call('HINCRBY', KEYS[4], 'received', 1)
  status = 'ivr'
end
local redial = (status == 'dispatched' or status == 'diverted') and a.redial
local free = redis.call('ZCARD', K.handler_state .. 'available')
if status ~= 'ivr' and status ~= 'queued' and not redial then return {status, '', free} end
-- Placed by rules older than the active version (a process follows a change within 2 s): a
-- queue that version dropped would strand the caller, so the caller must place them again.
if redis.call('EXISTS', K.RULES_QUEUES) == 1 and
   redis.call('SISMEMBER', K.RULES_QUEUES, a.queue) == 0 then
  return {'unserved', '', free}
end
local arrival = redis.call('HGET', KEYS[1], 'arrival')
if not arrival then
  arrival = a.now
  redis.call('HSET', KEYS[1], 'arrival', arrival)
end
local old_queue = redis.call('HGET', KEYS[1], 'queue')
if old_queue and old_queue ~= a.queue then
  redis.call('ZREM', K.queue .. old_queue, a.sid)
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'answers', a.answers, 'placement', a.placement,
           'queue', a.queue, 'priority', a.priority, 'locale', a.locale)
if redial then redis.call('HSET', KEYS[1], 'dispatch_tried', a.now) end
local score = queue_score(a.priority, math.floor(tonumber(arrival) * 1000))
redis.call('ZADD', KEYS[2], score, a.sid)
redis.call('EXPIRE', KEYS[1], a.ttl)
if status == 'ivr' then
  redis.call('HINCRBY', KEYS[4], 'queued', 1)
  -- The day's calls as the simulator replays them (keys.recorded_day).
  local started = redis.call('HGET', KEYS[1], 'created') or a.now
  redis.call('ZADD', KEYS[5], a.now, cjson.encode({case = a.case_id, started = tonumber(started),
             arrived = tonumber(a.now), line = a.line, answers = a.answers}))
  redis.call('EXPIRE', KEYS[5], a.recorded_ttl)
  count(a.queue, a.priority, 'offered', 1)
  redis.call('HSET', KEYS[1], 'stats_queue', a.queue, 'stats_priority', a.priority)
  if a.caller ~= '' then
    redis.call('HSET', KEYS[3], 'sid', a.sid, 'case_id', a.case_id, 'at', a.now)
    redis.call('EXPIRE', KEYS[3], a.caller_ttl)
  end
end
return {status, arrival, free}
""",
)

# A call left us (hang-up, or a final status): out of any queue, counted once, and the handler
# it was offered to, or talking to, moves on.
_FINISH = script(
    MOVE_HANDLER,
    STATS,
    """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return '' end
if status == 'completed' or status == 'abandoned' or status == 'callback' then return '' end
local outcome = 'completed'
if status == 'queued' or status == 'reserved' then outcome = 'abandoned' end
if status == 'ivr' then outcome = 'ivr_hangup' end
local queue = redis.call('HGET', KEYS[1], 'queue')
if queue then redis.call('ZREM', K.queue .. queue, a.sid) end
redis.call('ZREM', K.RESERVED, a.sid)
local handler = redis.call('HGET', KEYS[1], 'handler')
if handler and handler ~= '' then
  local hkey = K.handler .. handler
  local state = redis.call('HGET', hkey, 'state')
  if redis.call('HGET', hkey, 'call') == a.sid then
    if state == 'reserved' then
      move(handler, 'reserved', 'available', '')
      redis.call('HSET', hkey, 'call', '')
    elseif state == 'busy' then
      move(handler, 'busy', 'wrap_up', '')
    end
  end
end
local final = 'completed'
if outcome == 'abandoned' then
  final = 'abandoned'
  call_waited(KEYS[1], 'abandoned')
end
if outcome == 'ivr_hangup' then call_terminated(KEYS[1]) end
redis.call('HSET', KEYS[1], 'status', final, 'ended', NOW, 'outcome', outcome)
redis.call('HINCRBY', KEYS[2], outcome, 1)
return outcome
""",
)

# Send a caller out of Lifeline's queues to a number, counted once: the ambulance dispatch line
# ('dispatched'), or another service's line by overflow ('diverted'). `outcome` says which. A call
# on offer to a handler (another process gave it out meanwhile) is taken back from them in the
# same step: the caller is on their way to the number, and no redirect may pull them off it.
_DISPATCH = script(
    MOVE_HANDLER,
    STATS,
    """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'ivr' and status ~= 'queued' and status ~= 'reserved' then return 0 end
if status == 'reserved' then
  local handler = redis.call('HGET', KEYS[1], 'handler') or ''
  local hkey = K.handler .. handler
  if redis.call('HGET', hkey, 'state') == 'reserved' and
     redis.call('HGET', hkey, 'call') == a.sid then
    move(handler, 'reserved', 'available', '')
    redis.call('HSET', hkey, 'call', '')
  end
  redis.call('ZREM', K.RESERVED, a.sid)
  redis.call('HSET', KEYS[1], 'handler', '')
end
local queue = redis.call('HGET', KEYS[1], 'queue')
if queue then
  redis.call('ZREM', K.queue .. queue, a.sid)
  call_waited(KEYS[1], a.outcome)
end
redis.call('HSET', KEYS[1], 'status', a.outcome, 'dispatched_at', NOW)
redis.call('HINCRBY', KEYS[2], a.outcome, 1)
return 1
""",
)


@dataclass(frozen=True)
class Opened:
    recognised: bool
    callback: str  # the id of the caller's callback still to be made, or ""


@dataclass(frozen=True)
class Queued:
    arrival: float
    free_handlers: int  # handlers available right now: worth running assignment at once


class UnservedQueue(Exception):
    """The active rule set has no such queue: a placement made by an older version."""


class Finish(StrEnum):
    """What a call's end meant, as counted in the statistics."""

    COMPLETED = "completed"
    ABANDONED = "abandoned"
    IVR_HANGUP = "ivr_hangup"


def london_day(at: float) -> str:
    return datetime.fromtimestamp(at, LONDON).date().isoformat()


class Calls:
    """Call records and their queue entries."""

    def __init__(
        self, redis: Redis, *, numbers: NumberHash | None = None, retention_days: int = 30
    ) -> None:
        """`retention_days`: how long a day's recorded calls are kept (RETENTION_DAYS)."""
        self.redis = redis
        self.numbers = numbers
        self.retention_days = retention_days
        self._open = Script(redis, _OPEN)
        self._enqueue = Script(redis, _ENQUEUE)
        self._finish = Script(redis, _FINISH)
        self._dispatch = Script(redis, _DISPATCH)

    async def open(self, sid: str, caller: str, line: str, locale: Locale, now: float) -> Opened:
        """Create the record (once per CallSid), and say whether the caller is known: an open
        case from another call, and a callback still to be made."""
        _, recognised, callback = await self._open(
            keys=[keys.call(sid), caller_key(self.numbers, caller), OUTCOMES],
            args=[
                json.dumps(
                    {
                        "sid": sid,
                        "case_id": case_id_for(sid),
                        "caller": caller,
                        "line": line,
                        "locale": locale,
                        "now": repr(now),
                        "ttl": keys.CALL_TTL_SECONDS,
                        "caller_ttl": keys.CALLER_TTL_SECONDS,
                    }
                )
            ],
        )
        return Opened(recognised=bool(recognised), callback=str(callback))

    async def enqueue(
        self, call: Call, placement: Placement, now: float, redial: bool = False
    ) -> Queued:
        """Queue the call, keeping its original arrival time (its place in the queue).

        With `redial`, a call whose dispatch-line connection failed goes back into the queue.
        Raises UnservedQueue if the active rule set has no such queue (the placement was made
        by an older version): place the call again under the active one.
        """
        outcome, arrival, free = await self._enqueue(
            keys=[
                keys.call(call.sid),
                keys.queue(placement.queue),
                caller_key(self.numbers, call.caller),
                OUTCOMES,
                keys.recorded_day(london_day(now)),
            ],
            args=[
                json.dumps(
                    {
                        "sid": call.sid,
                        "case_id": case_id_for(call.sid),
                        "caller": call.caller,
                        "line": call.line,
                        "locale": call.answers.language.value,
                        "now": repr(now),
                        "recorded_ttl": self.retention_days * 86_400,
                        "answers": call.answers.model_dump_json(),
                        "placement": placement.model_dump_json(),
                        "queue": placement.queue,
                        "priority": int(placement.priority),
                        "ttl": keys.CALL_TTL_SECONDS,
                        "caller_ttl": keys.CALLER_TTL_SECONDS,
                        "redial": redial,
                    }
                )
            ],
        )
        if outcome == "unserved":
            raise UnservedQueue(placement.queue)
        return Queued(arrival=float(arrival) if arrival else now, free_handlers=int(free))

    async def finish(self, sid: str, now: float) -> Finish | None:
        """The call has ended; returns what that counted as, or None if already counted."""
        outcome = await self._finish(
            keys=[keys.call(sid), OUTCOMES], args=[json.dumps({"sid": sid, "now": repr(now)})]
        )
        return Finish(outcome) if outcome else None

    async def dispatch(self, sid: str, now: float, diverted: bool = False) -> bool:
        """Mark the call as sent to the ambulance dispatch line (or, `diverted`, to another
        service's number by overflow), taking it back from a handler it was on offer to; False
        if it already was, or is past waiting (connected, ended)."""
        outcome = "diverted" if diverted else "dispatched"
        return bool(
            await self._dispatch(
                keys=[keys.call(sid), OUTCOMES],
                args=[json.dumps({"sid": sid, "now": repr(now), "outcome": outcome})],
            )
        )

    async def get(self, sid: str) -> CallRecord | None:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.call(sid)))
        return record_from_hash(fields) if fields else None

    async def outcomes(self) -> dict[str, int]:
        counts = cast(dict[str, str], await self.redis.hgetall(OUTCOMES))
        return {name: int(value) for name, value in counts.items()}


def record_from_hash(fields: dict[str, str]) -> CallRecord:
    return CallRecord(
        sid=fields["sid"],
        case_id=fields["case_id"],
        caller=fields["caller"],
        line=fields["line"],
        locale=Locale(fields["locale"]),
        created=float(fields["created"]),
        status=CallStatus(fields["status"]),
        answers=Answers.model_validate_json(fields["answers"])
        if "answers" in fields
        else Answers(),
        placement=Placement.model_validate_json(fields["placement"])
        if fields.get("placement")
        else None,
        arrival=float(fields["arrival"]) if "arrival" in fields else None,
        handler=fields.get("handler", ""),
        offers=int(fields.get("offers", 0) or 0),
        callback_requested=bool(fields.get("callback_requested")),
        dispatch_tried=float(fields["dispatch_tried"]) if "dispatch_tried" in fields else None,
        reserved_at=float(fields["reserved_at"]) if fields.get("reserved_at") else None,
    )
