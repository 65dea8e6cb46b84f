"""Lua shared by the scripts that move handlers, so every move keeps the same books."""

from __future__ import annotations

# Needs `P` (the key prefix, with its colon) and `NOW` (a string) in scope. Moves a handler
# between the per-state sorted sets, stamps the change and records it in the event stream.
MOVE_HANDLER = """
local function move(id, from, to, reason)
  redis.call('ZREM', P .. 'handlers:' .. from, id)
  redis.call('ZADD', P .. 'handlers:' .. to, tonumber(NOW), id)
  redis.call('HSET', P .. 'handler:' .. id, 'state', to, 'since', NOW, 'reason', reason)
  redis.call('XADD', P .. 'handler-events', 'MAXLEN', '~', 100000, '*', 'handler', id,
             'from', from, 'to', to, 'reason', reason, 'at', NOW)
end
"""
