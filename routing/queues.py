"""Reading the queues: a caller's position, and how many wait in each queue at each priority."""

from __future__ import annotations

import json
from typing import cast

from redis.asyncio import Redis

from routing import keys
from routing.models import Priority
from routing.overflow import QueueConditions
from routing.rules import RuleSet

SCORE_STEP = 1e13  # score = priority * SCORE_STEP + arrival in milliseconds


def score(priority: Priority, arrival: float) -> float:
    return int(priority) * SCORE_STEP + int(arrival * 1000)


class Queues:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.conditions_script = redis.register_script(_CONDITIONS)

    async def conditions(self, rules: RuleSet) -> dict[str, QueueConditions]:
        return await conditions(self, rules)

    async def position(self, queue: str, member: str) -> int | None:
        """1 for the next caller to be answered; None if the member is not in the queue."""
        rank = await self.redis.zrank(keys.queue(queue), member)
        return None if rank is None else int(cast(int, rank)) + 1


# For each queue with overflow rules: how many wait, and how many handlers on duty have its
# skills (at its minimum proficiency). ARGV[1] is JSON: {prefix, queues: [{name, skills, min}]}.
_CONDITIONS = """
local a = cjson.decode(ARGV[1])
local P = a.prefix
local duty = P .. 'tmp:on-duty'
redis.call('ZUNIONSTORE', duty, 4, P .. 'handlers:available', P .. 'handlers:reserved',
           P .. 'handlers:busy', P .. 'handlers:wrap_up')
local rows = {}
for _, q in ipairs(a.queues) do
  local skilled = 0
  if #q.skills == 0 then
    skilled = redis.call('ZCARD', duty)
  else
    -- Everyone good enough at the first skill, then the rest checked one by one.
    local first = P .. 'skill:' .. q.skills[1]
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', first, q.min, '+inf')) do
      local able = redis.call('ZSCORE', duty, id) ~= false
      for i = 2, #q.skills do
        local level = redis.call('ZSCORE', P .. 'skill:' .. q.skills[i], id)
        if not level or tonumber(level) < q.min then able = false end
      end
      if able then skilled = skilled + 1 end
    end
  end
  table.insert(rows, {q.name, redis.call('ZCARD', P .. 'queue:' .. q.name), skilled})
end
redis.call('DEL', duty)
return rows
"""


async def conditions(queues: Queues, rules: RuleSet) -> dict[str, QueueConditions]:
    """Live conditions of the queues whose overflow rules depend on them (one round trip)."""
    watched = rules.watched()
    if not watched:
        return {}
    request = {
        "prefix": keys.PREFIX + ":",
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
