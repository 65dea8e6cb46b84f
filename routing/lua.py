"""The Lua the scripts share: the Redis schema as Lua sees it (every key, the score, the queue
member's kinds, all taken from `routing.keys`, never spelt again), and the fragments that keep the
same books in every script that moves a handler or counts an event.

A script's text is `script(...)`: the schema, its argument, then the fragments it uses and its own
text, in order. Its arguments follow one convention: the keys it is given in `KEYS` (a record it
was asked about), and its values as one JSON object in `ARGV[1]`, `a`, with `now` (Lifeline's
clock, as a string) as `NOW`. A standalone script (one built on no fragment, given all its keys in
`KEYS`) takes the same one JSON argument, made by `argument()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from routing import keys


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    if "'" in value or "\\" in value:
        raise ValueError(f"not a plain Lua string: {value!r}")
    return f"'{value}'"


def constants(**values: str | int) -> str:
    """`local NAME = value` for each: Python's values, declared in Lua."""
    return "".join(f"local {name} = {_literal(value)}\n" for name, value in values.items())


# The keys a script finds from what it reads, as the head an id is appended to (`K.queue .. name`).
_HEADS: dict[str, Callable[[str], str]] = {
    "call": keys.call,
    "queue": keys.queue,
    "handler": keys.handler,
    "handler_state": keys.handler_state,
    "handler_history": keys.handler_history,
    "skill": keys.skill,
    "callback": keys.callback,
}
# The fixed keys scripts use: passed in `KEYS`, after a script's own, in this order (`Script`).
_FIXED = {
    "RESERVED": keys.RESERVED,
    "AUDIT": keys.AUDIT,
    "HANDLER_EVENTS": keys.HANDLER_EVENTS,
    "RULES_ACTIVE": keys.RULES_ACTIVE,
    "RULES_QUEUES": keys.RULES_QUEUES,
    "CALLBACKS": keys.CALLBACKS,
    "CALLBACKS_SCHEDULED": keys.CALLBACKS_SCHEDULED,
    "CALLBACKS_UNREACHABLE": keys.CALLBACKS_UNREACHABLE,
    "CALLBACKS_AT_RISK": keys.CALLBACKS_AT_RISK,
    "CALLBACKS_CLOSED": keys.CALLBACKS_CLOSED,
    "ON_DUTY_SCRATCH": keys.ON_DUTY_SCRATCH,
    "STATS_SAMPLES": keys.STATS_SAMPLES,
    "STATS_SEEN": keys.STATS_SEEN,
    "STATS_VERSION": keys.STATS_VERSION,
    "CLINICIAN_CLOCK": keys.CLINICIAN_CLOCK,
    "WARM_ROOMS": keys.WARM_ROOMS,
}
FIXED_KEYS = tuple(_FIXED.values())

SCHEMA = (
    constants(STEP=keys.SCORE_STEP, CALLBACK_MEMBER=keys.CALLBACK_MEMBER)
    + f"local FIXED_AT = #KEYS - {len(_FIXED)}\n"
    + "local K = {\n"
    + "".join(f"  {name} = {_literal(head(''))},\n" for name, head in _HEADS.items())
    + "".join(f"  {name} = KEYS[FIXED_AT + {at}],\n" for at, name in enumerate(_FIXED, 1))
    + "}\n"
    + """-- A callback's history list, by its record's key.
local function history_of(callback_key) return callback_key .. '"""
    + keys.callback_history("").removeprefix(keys.callback(""))
    + """' end
-- A queue member's score (routing.keys.SCORE_STEP): priority first, then arrival in ms.
local function queue_score(priority, ms) return tonumber(priority) * STEP + ms end
local function is_callback(member)
  return string.sub(member, 1, #CALLBACK_MEMBER) == CALLBACK_MEMBER
end
"""
    + "local CALLBACK_TO_COME = {"
    + ", ".join(f"{status} = true" for status in keys.CALLBACK_TO_COME)
    + "}\nlocal LIVE_CALLBACK = {"
    + ", ".join(f"{status} = true" for status in keys.LIVE_CALLBACK)
    + """}
local function callback_id(member) return string.sub(member, #CALLBACK_MEMBER + 1) end
local function callback_member(id) return CALLBACK_MEMBER .. id end
-- The record of a queue member (routing.keys.record): the callback's, or the live call's.
local function record_key(member)
  if is_callback(member) then return K.callback .. callback_id(member) end
  return K.call .. member
end
"""
)


# Needs `SCHEMA` before it and `NOW` (a string) in scope. Moves a handler
# between the per-state sorted sets, stamps the change and records it in the event stream; puts
# an offered member back in its place; ends a wrap-up where the handler asked to go next.
MOVE_HANDLER = (
    constants(HANDLER_HISTORY_LENGTH=keys.HANDLER_HISTORY_LENGTH)
    + """
local function move(id, from, to, reason)
  redis.call('ZREM', K.handler_state .. from, id)
  redis.call('ZADD', K.handler_state .. to, tonumber(NOW), id)
  redis.call('HSET', K.handler .. id, 'state', to, 'since', NOW, 'reason', reason)
  redis.call('XADD', K.HANDLER_EVENTS, 'MAXLEN', '~', 100000, '*', 'handler', id,
             'from', from, 'to', to, 'reason', reason, 'at', NOW)
  redis.call('XADD', K.handler_history .. id, 'MAXLEN', '~', HANDLER_HISTORY_LENGTH, '*',
             'from', from, 'to', to, 'reason', reason, 'at', NOW)
end
-- A member offered to a handler goes back to the place it had (the score it was taken at),
-- offered to nobody. False if it was not on offer.
local function put_back(member)
  local record = record_key(member)
  local f = redis.call('HMGET', record, 'status', 'queue', 'score')
  if f[1] ~= 'reserved' then return false end
  local waiting = 'queued'
  if is_callback(member) then waiting = 'pending' end
  redis.call('HSET', record, 'status', waiting, 'handler', '')
  redis.call('ZADD', K.queue .. f[2], f[3], member)
  redis.call('ZREM', K.RESERVED, member)
  return true
end
-- The handler's wrap-up is over: where they asked to be after the call, or available.
local function after_wrap_up(id)
  local hkey = K.handler .. id
  local after = redis.call('HMGET', hkey, 'after_call', 'after_call_reason')
  if after[1] and after[1] ~= '' then
    move(id, 'wrap_up', after[1], after[2] or '')
  else
    move(id, 'wrap_up', 'available', '')
  end
  redis.call('HDEL', hkey, 'after_call', 'after_call_reason')
  redis.call('HSET', hkey, 'call', '', 'break_until', '')
end
"""
)

# Needs `SCHEMA` before it and `NOW` (Lifeline's clock, a string; never Redis's own clock) in
# scope. Statistics are samples: one
# member of a sorted set per counted event, `time|kind|queue|priority|value|subject`, scored by
# the time, `NOW`; the subject is the CallSid or callback id. Every change bumps a version, for
# readers' caches. `routing.stats` reads them; README.md "Statistics" defines the figures. The
# sets are trimmed by age as they are written: no job is needed.
STATS = (
    constants(STATS_KEEP=keys.STATS_KEEP_SECONDS)
    + """
local STATS_SAMPLES, STATS_SEEN, STATS_VERSION = K.STATS_SAMPLES, K.STATS_SEEN, K.STATS_VERSION
local function stats_trim(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(NOW) - STATS_KEEP))
  redis.call('EXPIRE', key, STATS_KEEP)
end
-- The subject of this script's events when the caller names none: the `id` (a callback) or
-- `sid` (a call) of its JSON argument.
local function stats_subject() return tostring(a.id or a.sid or '') end
local function stats_sample(kind, queue, priority, value, subject)
  local member = table.concat({tostring(NOW), kind, queue, tostring(priority),
                               string.format('%.3f', tonumber(value)), subject}, '|')
  redis.call('ZADD', STATS_SAMPLES, NOW, member)
  stats_trim(STATS_SAMPLES)
  redis.call('INCR', STATS_VERSION)
  redis.call('EXPIRE', STATS_VERSION, STATS_KEEP)
  return member
end
-- An event of kind `field` (offered, accepted, made, terminated...) and value `n` (1 for a plain
-- count), counted once per queue, kind and subject (by default the script's): a repeat changes
-- nothing.
local function count(queue, priority, field, n, subject)
  subject = subject or stats_subject()
  local seen = queue .. '|' .. field .. '|' .. subject
  if redis.call('ZADD', STATS_SEEN, 'NX', NOW, seen) == 0 then return end
  stats_trim(STATS_SEEN)
  stats_sample(field, queue, priority, n, subject)
end
-- A wait ended after `wait` seconds: answered by a handler, dispatched, diverted or abandoned.
-- Returns its member.
local function waited(queue, priority, outcome, wait, subject)
  return stats_sample(outcome, queue, priority, math.max(0, wait), subject or stats_subject())
end
-- A call's wait ended, timed from its arrival in the queue (or from being sent on). Its figures
-- go to the queue and class it was first offered in, wherever overflow or a new rule set moved
-- it since, so that each queue's figures add up. A call has one wait: if it ends again (the
-- number it was sent to never answered and it came back to the queue), the last ending replaces
-- the earlier one.
local function call_waited(record, outcome)
  local f = redis.call('HMGET', record, 'stats_queue', 'stats_priority', 'queue', 'priority',
                       'arrival', 'sid', 'stats_wait', 'waited_since')
  if not (f[1] or f[3]) or not f[5] then return end
  if f[7] then redis.call('ZREM', STATS_SAMPLES, f[7]) end
  -- A caller a handler sent on waits again, from then, in the queue they were sent to.
  local since = tonumber(f[8] or f[5])
  local member = waited(f[1] or f[3], f[2] or f[4], outcome, tonumber(NOW) - since,
                        f[6] or record)
  redis.call('HSET', record, 'stats_wait', member)
end
-- The clock to a clinician (keys.CLINICIAN_CLOCK). Started on the record (a call's or a
-- callback's) when a handler decides the patient needs a clinician, with the request's subject
-- and the skill that makes a handler a clinician; stopped, once, by the first handler with that
-- skill to speak to the patient (a callback the caller takes while waiting carries it over).
local CLINICIAN_FIELDS = {'clinician_since', 'clinician_urgency', 'clinician_target',
                          'clinician_subject', 'clinician_skill'}
local function clinician_requested(record, urgency, target, subject, skill)
  redis.call('HSET', record, 'clinician_since', NOW, 'clinician_urgency', urgency,
             'clinician_target', target, 'clinician_subject', subject,
             'clinician_skill', skill or '')
  redis.call('ZADD', K.CLINICIAN_CLOCK, NOW,
             table.concat({'requested', urgency, tostring(target), subject}, '|'))
  stats_trim(K.CLINICIAN_CLOCK)
  redis.call('INCR', STATS_VERSION)
end
local function clinician_reached(record, handler)
  local f = redis.call('HMGET', record, unpack(CLINICIAN_FIELDS))
  if not f[1] or f[1] == '' then return end
  if f[5] and f[5] ~= '' and not redis.call('ZSCORE', K.skill .. f[5], handler or '') then
    return  -- not a clinician: the patient is still waiting for one
  end
  local seconds = string.format('%.3f', math.max(0, tonumber(NOW) - tonumber(f[1])))
  redis.call('ZADD', K.CLINICIAN_CLOCK, NOW,
             table.concat({'reached', f[2] or '', seconds, f[4] or record}, '|'))
  stats_trim(K.CLINICIAN_CLOCK)
  redis.call('INCR', STATS_VERSION)
  redis.call('HDEL', record, 'clinician_since')
end
-- The call ended in the IVR, before entering a queue: terminated, never abandoned. Counted
-- for the whole line (queue '', priority 0).
local function call_terminated(record)
  count('', 0, 'terminated', 1, redis.call('HGET', record, 'sid') or record)
end
"""
)


def script(*parts: str) -> str:
    """A script's text: the schema, its JSON argument (`a`, and `NOW`), then `parts` in order."""
    return SCHEMA + "local a = cjson.decode(ARGV[1])\nlocal NOW = a.now\n" + "".join(parts)


def argument(**values: str | int | float | Sequence[str]) -> list[str]:
    """A standalone script's one argument (`local a = cjson.decode(ARGV[1])`): its values as
    text, as Redis gives them (a float as Python's repr), so that the script compares them with
    what it reads and takes `tonumber` of them as it would of any argument."""

    def text(value: str | int | float | Sequence[str]) -> str | list[str]:
        if isinstance(value, str):
            return value
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, int):
            return str(value)
        return [str(item) for item in value]

    return [json.dumps({name: text(value) for name, value in values.items()})]


class Script:
    """A script of `script()`'s, registered: called with its own keys, to which the fixed keys it
    may touch are added (`FIXED_KEYS`, in order), so that every key a script is given by name is
    in `KEYS`; the keys it finds from what it reads share their hash tag."""

    def __init__(self, redis: Redis, text: str) -> None:
        self._script = redis.register_script(text)

    async def __call__(
        self, keys: Sequence[str] = (), args: Sequence[str | int | float] = (), client: Any = None
    ) -> Any:
        """Run it (`client`: another client, or a pipeline to queue it on)."""
        return await self._script(keys=[*keys, *FIXED_KEYS], args=list(args), client=client)
