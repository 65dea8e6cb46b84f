"""The number a callback rings, checked when the call is placed: one a caller keyed in is a
patient's own phone (UK geographic or mobile), and one kept before that rule was never checked.
Outside it, no call is made and the callback is left unreachable, saying why, for a person."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from routing import keys
from routing.callback_steps import PRELUDE
from routing.callbacks import Callback
from routing.lua import Script
from routing.numbers import uk_number

# The offer's callback, still reserved for it, becomes unreachable with the reason; its handler,
# still holding it, is free again. 0 when the offer is no longer the live one.
_REFUSED = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'handler', 'offers', 'priority')
if f[1] ~= 'reserved' or f[2] ~= a.handler or tonumber(f[3]) ~= a.offer then return 0 end
redis.call('ZREM', K.RESERVED, callback_member(a.id))
local hkey = K.handler .. a.handler
if redis.call('HGET', hkey, 'state') == 'reserved' and
   redis.call('HGET', hkey, 'call') == callback_member(a.id) then
  move(a.handler, 'reserved', 'available', '')
  redis.call('HSET', hkey, 'call', '')
end
redis.call('HSET', key, 'status', 'unreachable', 'ended_at', NOW, 'handler', '', 'reason', a.why)
redis.call('ZADD', K.CALLBACKS_UNREACHABLE, tonumber(NOW), a.id)
release_number()
count('callbacks', f[4], 'unreachable', 1)
history('number refused', {reason = a.why})
return 1
"""
)


async def refused(redis: Redis, callback: Callback) -> str | None:
    """Why the callback's number may not be rung, or None. The caller's own number (the one
    their call came from) is theirs to be called back on; any other was keyed in."""
    own = await redis.hget(keys.call(callback.call_sid), "caller") if callback.call_sid else None
    if own and own == callback.number:
        return None
    national = "0" + callback.number[3:] if callback.number.startswith("+44") else ""
    if national and uk_number(national) == callback.number:
        return None
    return (
        "not called: the number keyed in is outside the number policy (a patient's own UK "
        "geographic or mobile number only)"
    )


async def give_up(
    redis: Redis, callback_id: str, handler: str, offer: int, why: str, now: float
) -> bool:
    """Leave the callback unreachable with `why`; False if the offer was no longer live."""
    script = Script(redis, _REFUSED)
    args = {"id": callback_id, "now": repr(now)}
    request = args | {"handler": handler, "offer": offer, "why": why, "at_risk_shift": 0}
    return bool(await script(args=[json.dumps(request)]))
