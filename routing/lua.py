"""Lua shared by the scripts that move handlers, so every move keeps the same books."""

from __future__ import annotations

from routing.keys import HANDLER_HISTORY_LENGTH

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
  redis.call('HSET', hkey, 'call', '')
end
""".replace("{history}", str(HANDLER_HISTORY_LENGTH))

# Needs `P` and `NOW`. Adds to the statistics of a queue and priority class, in the minute and
# the hour buckets that `NOW` falls in (kept two days): counters, and running maxima.
STATS = """
local function stat_keys()
  local t = tonumber(NOW)
  return {P .. 'stats:m:' .. (math.floor(t / 60) * 60),
          P .. 'stats:h:' .. (math.floor(t / 3600) * 3600)}
end
local function count(queue, priority, field, n)
  for _, key in ipairs(stat_keys()) do
    redis.call('HINCRBYFLOAT', key, queue .. '|' .. priority .. '|' .. field, n)
    redis.call('EXPIRE', key, 172800)
  end
end
local function peak(queue, priority, field, value)
  for _, key in ipairs(stat_keys()) do
    local name = queue .. '|' .. priority .. '|' .. field
    local current = tonumber(redis.call('HGET', key, name) or '-1')
    if value > current then redis.call('HSET', key, name, value) end
    redis.call('EXPIRE', key, 172800)
  end
end
-- A wait ended: answered by a handler, reached the dispatch line, or abandoned.
local function waited(queue, priority, outcome, wait)
  count(queue, priority, outcome, 1)
  count(queue, priority, outcome .. '_wait', wait)
  peak(queue, priority, 'max_wait', wait)
  if outcome == 'answered' and wait <= 60 then count(queue, priority, 'answered_60', 1) end
  if outcome == 'abandoned' and wait > 30 then count(queue, priority, 'abandoned_30', 1) end
  if tonumber(priority) == 1 and (outcome == 'answered' or outcome == 'dispatched') then
    count(queue, priority, 'reached', 1)
    count(queue, priority, 'reached_wait', wait)
    peak(queue, priority, 'reached_max', wait)
  end
end
-- A call's wait ended. Its figures go to the queue and class it was first offered in, wherever
-- overflow or a new rule set moved it since, so that each queue's figures add up.
local function call_waited(record, outcome)
  local f = redis.call('HMGET', record, 'stats_queue', 'stats_priority', 'queue', 'priority',
                       'arrival')
  if not (f[1] or f[3]) or not f[5] then return end
  waited(f[1] or f[3], f[2] or f[4], outcome, tonumber(NOW) - tonumber(f[5]))
end
"""
