"""Lua shared by the scripts that move handlers, so every move keeps the same books."""

from __future__ import annotations

from routing.keys import (
    HANDLER_HISTORY_LENGTH,
    STATS_KEEP_SECONDS,
    STATS_SAMPLES,
    STATS_SEEN,
    STATS_VERSION,
)

# Needs `P` (the key prefix, with its colon) and `NOW` (a string) in scope. Moves a handler
# between the per-state sorted sets, stamps the change and records it in the event stream; puts
# an offered member back in its place; ends a wrap-up where the handler asked to go next.
MOVE_HANDLER = """
local function move(id, from, to, reason)
  redis.call('ZREM', P .. 'handlers:' .. from, id)
  redis.call('ZADD', P .. 'handlers:' .. to, tonumber(NOW), id)
  redis.call('HSET', P .. 'handler:' .. id, 'state', to, 'since', NOW, 'reason', reason)
  redis.call('XADD', P .. 'handler-events', 'MAXLEN', '~', 100000, '*', 'handler', id,
             'from', from, 'to', to, 'reason', reason, 'at', NOW)
  redis.call('XADD', P .. 'handler-events:' .. id, 'MAXLEN', '~', {history}, '*', 'from', from,
             'to', to, 'reason', reason, 'at', NOW)
end
local function record_key(member)
  if string.sub(member, 1, 3) == 'cb:' then return P .. 'callback:' .. string.sub(member, 4) end
  return P .. 'call:' .. member
end
-- A member offered to a handler goes back to the place it had (the score it was taken at),
-- offered to nobody. False if it was not on offer.
local function put_back(member)
  local record = record_key(member)
  local f = redis.call('HMGET', record, 'status', 'queue', 'score')
  if f[1] ~= 'reserved' then return false end
  local waiting = 'queued'
  if string.sub(member, 1, 3) == 'cb:' then waiting = 'pending' end
  redis.call('HSET', record, 'status', waiting, 'handler', '')
  redis.call('ZADD', P .. 'queue:' .. f[2], f[3], member)
  redis.call('ZREM', P .. 'reserved', member)
  return true
end
-- The handler's wrap-up is over: where they asked to be after the call, or available.
local function after_wrap_up(id)
  local hkey = P .. 'handler:' .. id
  local after = redis.call('HMGET', hkey, 'after_call', 'after_call_reason')
  if after[1] and after[1] ~= '' then
    move(id, 'wrap_up', after[1], after[2] or '')
  else
    move(id, 'wrap_up', 'available', '')
  end
  redis.call('HDEL', hkey, 'after_call', 'after_call_reason')
  redis.call('HSET', hkey, 'call', '', 'break_until', '')
end
""".replace("{history}", str(HANDLER_HISTORY_LENGTH))

# Needs `NOW` (Lifeline's clock, a string; never Redis's own clock). Statistics are samples: one
# member of a sorted set per counted event, `time|kind|queue|priority|value|subject`, scored by
# the time, `NOW`; the subject is the CallSid or callback id. Every change bumps a version, for
# readers' caches. `routing.stats` reads them; README.md "Statistics" defines the figures. The
# sets are trimmed by age as they are written: no job is needed.
STATS = (
    """
local STATS_SAMPLES, STATS_SEEN, STATS_VERSION = '{samples}', '{seen}', '{version}'
local STATS_KEEP = {keep}
local function stats_trim(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(NOW) - STATS_KEEP))
  redis.call('EXPIRE', key, STATS_KEEP)
end
-- The subject of this script's events when the caller names none: the `id` (a callback) or
-- `sid` (a call) of its JSON argument, or else its first argument (the CallSid).
local function stats_subject()
  local ok, args = pcall(cjson.decode, ARGV[1] or '')
  if ok and type(args) == 'table' then return tostring(args.id or args.sid or '') end
  return tostring(ARGV[1] or '')
end
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
-- A call's wait ended, timed from its arrival in the queue. Its figures go to the queue and class
-- it was first offered in, wherever overflow or a new rule set moved it since, so that each
-- queue's figures add up. A call has one wait: if it ends again (the number it was sent to never
-- answered and it came back to the queue), the last ending replaces the earlier one.
local function call_waited(record, outcome)
  local f = redis.call('HMGET', record, 'stats_queue', 'stats_priority', 'queue', 'priority',
                       'arrival', 'sid', 'stats_wait')
  if not (f[1] or f[3]) or not f[5] then return end
  if f[7] then redis.call('ZREM', STATS_SAMPLES, f[7]) end
  local member = waited(f[1] or f[3], f[2] or f[4], outcome, tonumber(NOW) - tonumber(f[5]),
                        f[6] or record)
  redis.call('HSET', record, 'stats_wait', member)
end
-- The call ended in the IVR, before entering a queue: terminated, never abandoned. Counted
-- for the whole line (queue '', priority 0).
local function call_terminated(record)
  count('', 0, 'terminated', 1, redis.call('HGET', record, 'sid') or record)
end
""".replace("{samples}", STATS_SAMPLES)
    .replace("{seen}", STATS_SEEN)
    .replace("{version}", STATS_VERSION)
    .replace("{keep}", str(STATS_KEEP_SECONDS))
)
