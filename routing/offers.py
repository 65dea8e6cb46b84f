"""An offer's outcome: answered (the handler is busy), or not (the call goes back to its place).

Each outcome is one Lua script that checks the offer is still the one it believes (member,
handler and offer number), so a late or repeated webhook changes nothing.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum

from redis.asyncio import Redis

from routing import keys
from routing.handlers import Handler
from routing.lua import MOVE_HANDLER, STATS, Script, script
from routing.models import mask
from routing.rules import RuleSet

log = logging.getLogger(__name__)

_HELPERS = script(
    MOVE_HANDLER,
    STATS,
    """
local record = record_key(a.member)
local current = redis.call('HMGET', record, 'status', 'handler', 'offers')
local is_offer = current[2] == a.handler and tonumber(current[3]) == a.offer
""",
)

# The handler answered: the call is connected and the handler busy. Only the offer the handler
# holds now can be answered; one they no longer hold goes back to its place.
_ANSWER = (
    _HELPERS
    + """
if current[1] ~= 'reserved' or not is_offer then return 0 end
local hkey = K.handler .. a.handler
local held = redis.call('HMGET', hkey, 'state', 'call')
if held[1] ~= 'reserved' or held[2] ~= a.member then
  put_back(a.member)
  return 0
end
redis.call('HSET', record, 'status', 'connected', 'connected_at', a.now)
if a.leg ~= '' then redis.call('HSET', record, 'handler_leg', a.leg) end
if not is_callback(a.member) then call_waited(record, 'answered') end
clinician_reached(record, a.handler)
redis.call('ZREM', K.RESERVED, a.member)
move(a.handler, 'reserved', 'busy', '')
redis.call('HSET', hkey, 'missed', 0)
redis.call('HINCRBY', hkey, 'calls', 1)
return 1
"""
)

# The offer failed: the call goes back to the place it had (same score), the handler moves on.
_RELEASE = (
    _HELPERS
    + """
if current[1] ~= 'reserved' or not is_offer then return 0 end
put_back(a.member)
local handler = K.handler .. a.handler
if redis.call('HGET', handler, 'state') == 'reserved' and
   redis.call('HGET', handler, 'call') == a.member then
  local to, reason = a.handler_to, a.reason
  if a.missed then
    local missed = redis.call('HINCRBY', handler, 'missed', 1)
    to, reason = 'break', 'missed'
    if missed >= a.missed_limit then
      redis.call('HSET', handler, 'break_until', '')
    else
      redis.call('HSET', handler, 'break_until', tostring(tonumber(a.now) + a.missed_break))
    end
  end
  move(a.handler, 'reserved', to, reason)
  redis.call('HSET', handler, 'call', '')
end
return 1
"""
)


class Release(StrEnum):
    """Why an offer failed, which decides where the handler goes."""

    MISSED = "missed"  # rang out, busy, declined: the handler takes a break
    FAILED = "failed"  # the network could not connect: not the handler's doing
    HANDLER_LEFT = "handler_left"  # the console went away: the handler goes offline
    # Their phone is outside the number policy (kept from before it): never dialled, and the
    # handler goes offline, saying why, until a supervisor puts it right.
    PHONE_REFUSED = "phone_refused"


OFFLINE_BECAUSE = {
    Release.HANDLER_LEFT: "heartbeat lost",
    Release.PHONE_REFUSED: "phone outside the number policy",
}


class Offers:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._answer = Script(redis, _ANSWER)
        self._release = Script(redis, _RELEASE)

    def _args(self, member: str, handler: str, offer: int, now: float) -> dict[str, object]:
        return {
            "member": member,
            "handler": handler,
            "offer": offer,
            "now": repr(now),
        }

    async def answered(
        self, member: str, handler: str, offer: int, now: float, leg: str = ""
    ) -> bool:
        """True if this offer was live and is now connected. `leg`: the handler's call (its
        CallSid), kept for sending the caller on."""
        change = self._args(member, handler, offer, now) | {"leg": leg}
        return bool(await self._answer(args=[json.dumps(change)]))

    async def release(
        self,
        member: str,
        handler: str,
        offer: int,
        now: float,
        why: Release,
        rules: RuleSet,
    ) -> bool:
        """Put the member back in its place; True if this offer was live."""
        change = self._args(member, handler, offer, now) | {
            "missed": why is Release.MISSED,
            "missed_limit": rules.offers.missed_in_row_limit,
            "missed_break": rules.offers.missed_break_seconds,
            "handler_to": "offline" if why in OFFLINE_BECAUSE else "available",
            "reason": OFFLINE_BECAUSE.get(why, ""),
        }
        return bool(await self._release(args=[json.dumps(change)]))

    async def phone_refused(
        self,
        member: str,
        handler: Handler,
        offer: int,
        why: str,
        now: float,
        rules: RuleSet,
        extra: dict[str, str],
    ) -> None:
        """The handler's phone is outside the number policy (kept from before it): it is not
        dialled, the member goes back to its place and the handler offline, saying why. Logged by
        the number's last digits only."""
        number = mask(handler.profile.device.address)
        log.warning(
            "handler %s's phone (%s) not dialled: %s", handler.profile.id, number, why, extra=extra
        )
        await self.release(member, handler.profile.id, offer, now, Release.PHONE_REFUSED, rules)

    async def overdue(self, older_than: float) -> list[str]:
        """Members reserved before `older_than`: offers whose outcome never came back."""
        members = await self.redis.zrangebyscore(keys.RESERVED, "-inf", f"({older_than}")
        return [str(member) for member in members]
