"""Patient data kept only as long as needed: a callback closed (done or cancelled) more than the
retention period ago keeps what the audit and the statistics need, and nothing that could tell who
the patient was. Nothing live, and nothing unreachable (a clinician has still to decide), is
touched, however old.

Closing steps index a callback by when it closed (`keys.CALLBACKS_CLOSED`); a walk over every
callback by booking time adds those closed before that index existed. Both run in small batches.
"""

from __future__ import annotations

from redis.asyncio import Redis

from routing import keys
from routing.lua import argument

BATCH = 100  # callbacks a script looks at, while Redis runs nothing else
BATCHES = 50  # batches a housekeeping run takes at most: a backlog takes a few runs
# What a forgotten callback's history keeps of each event's detail: attempts, outcomes and who
# acted (handlers, supervisors, "caller"), never the number's ending or a reason's free text.
KEPT_DETAIL = (
    "attempt",
    "attempts",
    "attempts_before",
    "outcome",
    "handler",
    "by",
    "from",
    "to",
    "priority",
)

# KEYS[1] every callback by booking time, KEYS[2] the closed ones by when, KEYS[3] how far this
# walk has come. `before`: booked up to, the `most` to look at, the callbacks' key `prefix`. A
# callback still live as the walk passes it is indexed by the step that closes it.
_WALK = """
local a = cjson.decode(ARGV[1])
local from = redis.call('GET', KEYS[3]) or '-inf'
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], from, a.before, 'WITHSCORES', 'LIMIT', 0,
                        tonumber(a.most))
for i = 1, #rows, 2 do
  local f = redis.call('HMGET', a.prefix .. rows[i], 'status', 'ended_at', 'forgotten')
  if (f[1] == 'done' or f[1] == 'cancelled') and f[3] ~= '1' then
    redis.call('ZADD', KEYS[2], 'NX', tonumber(f[2]) or tonumber(rows[i + 1]), rows[i])
  end
end
if #rows > 0 then redis.call('SET', KEYS[3], rows[#rows]) end
return #rows / 2
"""

# KEYS[1] the closed callbacks by when. `before` (closed before), the `most` to take, the
# callbacks' key `prefix`, and the detail to `keep`. Returns how many were taken and forgotten.
_FORGET = """
local a = cjson.decode(ARGV[1])
local keep = {}
for _, name in ipairs(a.keep) do keep[name] = true end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', a.before, 'LIMIT', 0, tonumber(a.most))
local forgotten = 0
for _, id in ipairs(ids) do
  local key = a.prefix .. id
  local f = redis.call('HMGET', key, 'status', 'forgotten')
  if (f[1] == 'done' or f[1] == 'cancelled') and f[2] ~= '1' then
    local drop = {'caller', 'answers', 'reason', 'call_sid', 'to_key'}
    for _, field in ipairs(redis.call('HKEYS', key)) do
      if string.sub(field, 1, 9) == 'outbound:' or string.sub(field, 1, 8) == 'machine:' then
        table.insert(drop, field)
      end
    end
    redis.call('HDEL', key, unpack(drop))
    redis.call('HSET', key, 'number', '', 'forgotten', '1')
    local history = key .. ':history'
    local rows = redis.call('LRANGE', history, 0, -1)
    redis.call('DEL', history)
    for _, row in ipairs(rows) do
      local entry = cjson.decode(row)
      local detail = {}
      for name, value in pairs(entry.detail or {}) do
        if keep[name] then detail[name] = value end
      end
      redis.call('RPUSH', history, cjson.encode({at = entry.at, event = entry.event,
                                                 detail = detail}))
    end
    forgotten = forgotten + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return {#ids, forgotten}
"""


class CallbackRetention:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._walk = redis.register_script(_WALK)
        self._forget = redis.register_script(_FORGET)

    async def forget_closed(self, before: float, batch: int = BATCH, batches: int = BATCHES) -> int:
        """Strip callbacks closed before `before` of the patient's number, answers and every
        free text, and their history of the same, `batch` at a time; how many. What the audit
        and the statistics need stays: ids, status, priority, queue, times, attempts, handlers."""
        prefix = keys.callback("")
        forgotten = 0
        for _ in range(batches):
            walked = await self._walk(
                keys=[keys.CALLBACKS, keys.CALLBACKS_CLOSED, keys.CALLBACKS_WALKED],
                args=argument(before=before, most=batch, prefix=prefix),
            )
            taken, count = await self._forget(
                keys=[keys.CALLBACKS_CLOSED],
                args=argument(before=before, most=batch, prefix=prefix, keep=KEPT_DETAIL),
            )
            forgotten += int(count)
            if int(walked) < batch and int(taken) < batch:
                break
        return forgotten
