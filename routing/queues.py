"""Reading the queues: a caller's position, and how many wait in each queue at each priority."""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from routing.lua import Script, script
from routing.overflow import QueueConditions
from routing.rules import RuleSet


class Queues:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.conditions_script = Script(redis, _CONDITIONS)
        self.standing_script = Script(redis, _STANDING)

    async def conditions(self, rules: RuleSet) -> dict[str, QueueConditions]:
        return await conditions(self, rules)

    async def standing(self, rules: RuleSet, queue: str, member: str, now: float) -> Standing:
        """Where a waiting caller stands in the order assignment follows (see `_STANDING`)."""
        request = {
            "queue": queue,
            "member": member,
            "now": repr(now),
            "every_ms": rules.aging.every_seconds * 1000,
            "max_steps": rules.aging.max_steps,
            "queues": [
                {"name": name, "skills": list(rule.skills), "min": rule.min_proficiency}
                for name, rule in sorted(rules.queues.items())
            ],
        }
        position, skilled, free, wrapping_up = await self.standing_script(
            args=[json.dumps(request)]
        )
        return Standing(int(position), int(skilled), int(free), int(wrapping_up))


@dataclass(frozen=True)
class Standing:
    """A waiting caller's place: 1 for the next to be answered by the handlers who can take
    their call (0: not waiting), and how many of those handlers are on duty, free now, and
    finishing a wrap-up."""

    position: int
    skilled_on_duty: int
    free: int = 0
    wrapping_up: int = 0


# A caller's position in the real assignment order: 1 + the calls that the handlers on duty who
# can take this caller's queue would be given first, in any queue those handlers can take, by
# effective priority (guarded aging, as in `routing.assignment`), then arrival. For one class in
# one queue the calls ahead are a prefix in arrival (waiting longer never lowers a call's
# effective priority), so each class is one ZCOUNT up to the last arrival still ahead.
_STANDING = script(
    """
local INF = math.huge
local score = redis.call('ZSCORE', K.queue .. a.queue, a.member)
if not score then return {0, 0, 0, 0} end
score = tonumber(score)
local now_ms = math.floor(tonumber(a.now) * 1000)
local own_class = math.floor(score / STEP)
local own_arrival = score - own_class * STEP
local function effective(class, arrival)
  if class == 1 then return 1 end
  local steps = math.min(a.max_steps, math.floor((now_ms - arrival) / a.every_ms))
  return math.max(2, class - steps)
end
-- The latest arrival (ms) at which a call of `class` is at an effective level <= `level`.
local function latest(class, level)
  if level >= class then return INF end
  if level < 2 then return -INF end
  local steps = class - level
  if steps > a.max_steps then return -INF end
  return now_ms - steps * a.every_ms
end
local mine = nil
for _, q in ipairs(a.queues) do if q.name == a.queue then mine = q end end
if not mine then return {1, 0, 0, 0} end
local function able(id, q)
  for _, skill in ipairs(q.skills) do
    local level = redis.call('ZSCORE', K.skill .. skill, id)
    if not level or tonumber(level) < q.min then return false end
  end
  return true
end
local skilled = {}
local by_state = {available = 0, wrap_up = 0}
for _, state in ipairs({'available', 'reserved', 'busy', 'wrap_up'}) do
  for _, id in ipairs(redis.call('ZRANGE', K.handler_state .. state, 0, -1)) do
    if able(id, mine) then
      table.insert(skilled, id)
      -- One finishing a wrap-up counts as coming free only if not leaving after it.
      local leaving = state == 'wrap_up' and
                      (redis.call('HGET', K.handler .. id, 'after_call') or '') ~= ''
      if not leaving then by_state[state] = (by_state[state] or 0) + 1 end
    end
  end
end
local level = effective(own_class, own_arrival)
local ahead = 0
for _, q in ipairs(a.queues) do
  local reachable = false
  for _, id in ipairs(skilled) do
    if able(id, q) then reachable = true; break end
  end
  if reachable then
    for class = 1, 5 do
      local last = math.max(latest(class, level - 1),
                            math.min(latest(class, level), own_arrival - 1))
      if last > -INF then
        local high = '(' .. string.format('%.0f', (class + 1) * STEP)
        if last < INF then high = string.format('%.0f', class * STEP + last) end
        ahead = ahead + redis.call('ZCOUNT', K.queue .. q.name,
                                   string.format('%.0f', class * STEP), high)
      end
    end
  end
end
return {ahead + 1, #skilled, by_state.available, by_state.wrap_up}
""",
)


# For each queue with overflow rules: how many wait, and how many handlers on duty have its
# skills (at its minimum proficiency). ARGV[1] is JSON: {queues: [{name, skills, min}]}.
_CONDITIONS = script(
    """
local duty = K.ON_DUTY_SCRATCH
redis.call('ZUNIONSTORE', duty, 4, K.handler_state .. 'available', K.handler_state .. 'reserved',
           K.handler_state .. 'busy', K.handler_state .. 'wrap_up')
local rows = {}
for _, q in ipairs(a.queues) do
  local skilled = 0
  if #q.skills == 0 then
    skilled = redis.call('ZCARD', duty)
  else
    -- Everyone good enough at the first skill, then the rest checked one by one.
    local first = K.skill .. q.skills[1]
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', first, q.min, '+inf')) do
      local able = redis.call('ZSCORE', duty, id) ~= false
      for i = 2, #q.skills do
        local level = redis.call('ZSCORE', K.skill .. q.skills[i], id)
        if not level or tonumber(level) < q.min then able = false end
      end
      if able then skilled = skilled + 1 end
    end
  end
  table.insert(rows, {q.name, redis.call('ZCARD', K.queue .. q.name), skilled})
end
redis.call('DEL', duty)
return rows
""",
)


async def conditions(queues: Queues, rules: RuleSet) -> dict[str, QueueConditions]:
    """Live conditions of the queues whose overflow rules depend on them (one round trip)."""
    watched = rules.watched()
    if not watched:
        return {}
    request = {
        "queues": [
            {
                "name": name,
                "skills": list(rules.queues[name].skills),
                "min": rules.queues[name].min_proficiency,
            }
            for name in watched
        ],
    }
    rows = await queues.conditions_script(args=[json.dumps(request)])
    handle = rules.hold.average_handle_seconds
    return {
        str(name): QueueConditions(
            waiting=int(waiting),
            estimated_wait=int(waiting) * handle / int(skilled) if int(skilled) else None,
            skilled_on_duty=int(skilled),
        )
        for name, waiting, skilled in rows
    }
