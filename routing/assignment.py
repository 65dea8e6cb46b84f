"""Assignment: the best waiting call for each free handler, reserved in one atomic Redis step.

With any number of web and worker processes assigning at once, a Lua script is the only place a
call and a handler change hands, so neither can be assigned twice. The same script first returns
handlers whose wrap-up or timed break is over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from routing import keys
from routing.lua import MOVE_HANDLER, Script, script
from routing.rules import RuleSet

MAX_PAIRS_PER_RUN = 50

_ASSIGN = script(
    """
local now = tonumber(a.now)
""",
    MOVE_HANDLER,
    """
-- Timed states that are over: wrap-up, and breaks with an end (a missed offer).
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.handler_state .. 'wrap_up', '-inf',
                               now - a.wrap_up_seconds)) do
  after_wrap_up(id)
end
for _, id in ipairs(redis.call('ZRANGE', K.handler_state .. 'break', 0, -1)) do
  local till = redis.call('HGET', K.handler .. id, 'break_until')
  if till and till ~= '' and tonumber(till) <= now then
    move(id, 'break', 'available', '')
    redis.call('HSET', K.handler .. id, 'break_until', '')
  end
end

local function effective(class, arrival)
  if class == 1 then return 1 end
  local steps = math.min(a.aging_max_steps, math.floor((now - arrival) / a.aging_every_seconds))
  return math.max(2, class - steps)
end

-- The first emergency in a queue that is not past its limit for reaching a handler: one past
-- it is on its way to the dispatch line (or on it already, if Redis missed the news), and no
-- offer may pull them off it.
local function emergency_head(name)
  local rows = redis.call('ZRANGEBYSCORE', K.queue .. name, STEP, '(' .. (2 * STEP),
                          'WITHSCORES', 'LIMIT', 0, 20)
  for i = 1, #rows, 2 do
    local arrival = (tonumber(rows[i + 1]) - STEP) / 1000
    local tried = tonumber(redis.call('HGET', K.call .. rows[i], 'dispatch_tried') or '0')
    if math.max(arrival, tried or 0) + a.emergency_limit_seconds > now then
      return {rows[i], rows[i + 1]}
    end
  end
  return {}
end

local function best_call(blocked)
  local best = nil
  for _, q in ipairs(a.queues) do
    if not blocked[q.name] then
      for class = 1, 5 do
        local head
        if class == 1 then
          head = emergency_head(q.name)
        else
          head = redis.call('ZRANGEBYSCORE', K.queue .. q.name, class * STEP,
                            '(' .. ((class + 1) * STEP), 'WITHSCORES', 'LIMIT', 0, 1)
        end
        if head[1] then
          local arrival = (tonumber(head[2]) - class * STEP) / 1000
          local eff = effective(class, arrival)
          if best == nil or eff < best.eff or (eff == best.eff and arrival < best.arrival) then
            best = {member = head[1], queue = q, eff = eff, arrival = arrival, score = head[2]}
          end
        end
      end
    end
  end
  return best
end

local function choose_handler(q)
  -- Free handlers with every skill the queue needs, longest idle first (the available set's
  -- score is when they became free; the skill sets weigh nothing).
  local args = {#q.skills + 1, K.handler_state .. 'available'}
  for _, skill in ipairs(q.skills) do table.insert(args, K.skill .. skill) end
  table.insert(args, 'WEIGHTS')
  table.insert(args, 1)
  for _ in ipairs(q.skills) do table.insert(args, 0) end
  local found = redis.call('ZINTER', unpack(args))
  local chosen, chosen_key = nil, nil
  for _, id in ipairs(found) do
    local able = true
    for _, skill in ipairs(q.skills) do
      if tonumber(redis.call('ZSCORE', K.skill .. skill, id)) < q.min_proficiency then
        able = false
      end
    end
    if able then
      if q.strategy == 'longest_idle' then return id end
      local field = q.strategy == 'round_robin' and 'last_offer' or 'calls'
      local key = tonumber(redis.call('HGET', K.handler .. id, field) or '0') or 0
      if chosen == nil or key < chosen_key then chosen, chosen_key = id, key end
    end
  end
  return chosen
end

local pairs = {}
local blocked = {}
while #pairs < a.max_pairs and redis.call('ZCARD', K.handler_state .. 'available') > 0 do
  local call = best_call(blocked)
  if call == nil then break end
  local handler = choose_handler(call.queue)
  if handler == nil then
    blocked[call.queue.name] = true
  else
    redis.call('ZREM', K.queue .. call.queue.name, call.member)
    local record
    if is_callback(call.member) then
      record = K.callback .. callback_id(call.member)
    else
      record = K.call .. call.member
    end
    local offer = redis.call('HINCRBY', record, 'offers', 1)
    redis.call('HSET', record, 'status', 'reserved', 'handler', handler, 'reserved_at', a.now,
               'score', call.score)
    redis.call('ZADD', K.RESERVED, now, call.member)
    move(handler, 'available', 'reserved', '')
    redis.call('HSET', K.handler .. handler, 'call', call.member, 'last_offer', a.now)
    table.insert(pairs, {call.member, handler, offer, call.queue.name})
  end
end
return pairs
""",
)


@dataclass(frozen=True)
class Offer:
    """A queue member (a CallSid, or `cb:` and a callback id) reserved for a handler."""

    member: str
    handler: str
    offer: int
    queue: str

    @property
    def is_callback(self) -> bool:
        return keys.is_callback(self.member)


def assignment_config(rules: RuleSet, now: float, max_pairs: int) -> str:
    return json.dumps(
        {
            "now": repr(now),
            "max_pairs": max_pairs,
            "aging_every_seconds": rules.aging.every_seconds,
            "aging_max_steps": rules.aging.max_steps,
            "wrap_up_seconds": rules.offers.wrap_up_seconds,
            "emergency_limit_seconds": rules.emergency.handler_limit_seconds,
            "queues": [
                {
                    "name": name,
                    "skills": list(queue.skills),
                    "min_proficiency": queue.min_proficiency,
                    "strategy": queue.strategy.value,
                }
                for name, queue in sorted(rules.queues.items())
            ],
        }
    )


class Assigner:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._assign = Script(redis, _ASSIGN)

    async def assign(
        self, rules: RuleSet, now: float, max_pairs: int = MAX_PAIRS_PER_RUN
    ) -> list[Offer]:
        """Reserve the best waiting call for every free handler that can take one."""
        rows = await self._assign(args=[assignment_config(rules, now, max_pairs)])
        return [Offer(str(m), str(h), int(n), str(q)) for m, h, n, q in rows]
