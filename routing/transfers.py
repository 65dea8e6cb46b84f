"""A caller sent on from their handler, in Redis: to the ambulance dispatch line, or to the
clinicians' queue at an urgency of the rule set's. The handler asks during the call (`request`,
which starts the clock to a clinician); the caller moves on when the handler's leg leaves the
call and the caller's Dial action comes back (`take`), each one atomic and idempotent.

    connected ─request─▶ connected, transfer asked ─handler's leg leaves─▶ dispatched
                                                                       └▶ queued (clinicians)
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from routing import keys
from routing.calls import OUTCOMES
from routing.lua import MOVE_HANDLER, STATS, Script, script
from routing.models import Placement

NOTES_MAX = 4000


class Onward(StrEnum):
    DISPATCH = "dispatch"  # the ambulance dispatch line (AMBULANCE_DISPATCH_NUMBER)
    CLINICIAN = "clinician"  # the rule set's clinician queue


class Transfer(BaseModel):
    """Where the handler sends the caller, how urgently (a clinician), and what they say of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: Onward
    urgency: Annotated[str, Field(max_length=32)] = ""
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""
    # To a clinician: the handler stays on to introduce the case, in a conference, then leaves
    # (warm); or the caller waits in the clinicians' queue (cold). To the dispatch line, the rule
    # set decides (`onward.dispatch_warm`).
    warm: bool = False
    by: str = ""  # the handler who asked
    at: float = 0.0  # when


# KEYS[1] the call. The handler's request, kept once: the same one again is `again` (a request
# sent twice); another is `already`. Only while the handler is on the call, and with the leg to
# move (the handler's, recorded when they answered).
_REQUEST = script(
    STATS,
    """
local f = redis.call('HMGET', KEYS[1], 'status', 'handler', 'transfer', 'handler_leg')
if f[1] ~= 'connected' or f[2] ~= a.handler then return {'not_connected', ''} end
if f[3] and f[3] ~= '' then
  local kept = cjson.decode(f[3])
  if kept.to == a.to and kept.urgency == a.urgency and kept.notes == a.notes and
     kept.warm == a.warm then
    return {'again', f[4] or ''}
  end
  return {'already', f[4] or ''}
end
redis.call('HSET', KEYS[1], 'transfer', a.transfer)
if a.urgency ~= '' then clinician_requested(KEYS[1], a.urgency, a.target, a.sid, a.skill) end
return {'requested', f[4]}
""",
)

# KEYS[1] the call, KEYS[2] the queue it goes to (the clinicians'; for the dispatch line, the
# emergency queue it would come back to). The caller's Dial action came back with a transfer
# asked: the handler wraps up (the call stays theirs to wrap up), and the caller is dispatched, or
# queued for a clinician at the place their arrival gives them, waiting again from now in the
# statistics. A queue the active rules no longer have is `unserved`, and nothing changes.
_TAKE = script(
    MOVE_HANDLER,
    STATS,
    """
local f = redis.call('HMGET', KEYS[1], 'status', 'handler', 'transfer', 'arrival', 'created',
                     'handler_moving')
if f[1] ~= 'connected' or not f[3] or f[3] == '' then return {'', '', 0} end
if a.to == 'clinician' and redis.call('EXISTS', K.RULES_QUEUES) == 1 and
   redis.call('SISMEMBER', K.RULES_QUEUES, a.queue) == 0 then
  return {'unserved', '', 0}
end
-- Warm only with the handler's leg on its way into the room (the job marks it as it moves the
-- leg): a handler who hung up first, or whose leg could not be moved, is not coming.
local warm = a.warm and cjson.decode(f[3]).warm == true and f[6] == '1'
local handler = f[2] or ''
if handler ~= '' and not warm then  -- warm: the handler is in the room until they leave it
  local hkey = K.handler .. handler
  if redis.call('HGET', hkey, 'state') == 'busy' and redis.call('HGET', hkey, 'call') == a.sid then
    move(handler, 'busy', 'wrap_up', '')
  end
end
if warm then
  redis.call('HSET', KEYS[1], 'warm_room', a.room)
  redis.call('ZADD', K.WARM_ROOMS, NOW, a.sid)
end
local arrival = f[4] or f[5]
-- Taken: the request is kept as what was done (`sent_on`), and whoever has the caller next may
-- send them on again.
redis.call('HSET', KEYS[1], 'handler', '', 'transferred_by', handler, 'transferred_at', NOW,
           'placement', a.placement, 'queue', a.queue, 'priority', a.priority, 'arrival', arrival,
           'sent_on', f[3])
redis.call('HDEL', KEYS[1], 'transfer', 'handler_moving')
redis.call('HINCRBY', KEYS[3], 'sent_on_' .. a.to, 1)
local went = warm and 1 or 0
if a.to == 'dispatch' then
  redis.call('HSET', KEYS[1], 'status', 'dispatched', 'dispatched_at', NOW)
  return {'dispatched', arrival, went}
end
redis.call('HDEL', KEYS[1], 'stats_wait')
redis.call('HSET', KEYS[1], 'status', 'queued', 'waited_since', NOW, 'stats_queue', a.queue,
           'stats_priority', a.priority)
redis.call('ZADD', KEYS[2], queue_score(a.priority, math.floor(tonumber(arrival) * 1000)), a.sid)
count(a.queue, a.priority, 'offered', 1)
return {'queued', arrival, went}
""",
)


# KEYS[1] the call. The handler who sent it on warm has left the room (hung up, or the room
# ended): they wrap up. Whoever is left in the room with the caller decides what follows: a
# clinician or the dispatcher on the line, nothing; nobody yet, the caller leaves the room, back
# to waiting in the clinicians' queue in their place (`to_queue`, and a clinician being rung is
# released: `release`, with who and which offer) or through to the dispatch line by a plain dial
# (`to_dispatch`).
_LEFT_ROOM = script(
    MOVE_HANDLER,
    """
local hkey = K.handler .. a.handler
if redis.call('HGET', hkey, 'state') == 'busy' and redis.call('HGET', hkey, 'call') == a.sid then
  move(a.handler, 'busy', 'wrap_up', '')
end
local f = redis.call('HMGET', KEYS[1], 'status', 'warm_room', 'dispatcher_joined', 'handler',
                     'offers')
if not f[2] or f[2] == '' then return {'', '', 0} end
if f[1] == 'queued' or f[1] == 'reserved' then
  redis.call('HDEL', KEYS[1], 'warm_room')
  if f[1] == 'reserved' then return {'release', f[4] or '', tonumber(f[5] or 0)} end
  return {'to_queue', '', 0}
end
if f[1] == 'dispatched' and not f[3] then
  redis.call('HDEL', KEYS[1], 'warm_room')
  return {'to_dispatch', '', 0}
end
return {'', '', 0}
""",
)

# KEYS[1] the call. The dispatcher's leg of a warm transfer answered (`joined`), or failed to
# (`failed`: the caller leaves the room for a plain dial, once). 1 if it changed anything.
_DISPATCHER = script(
    """
local f = redis.call('HMGET', KEYS[1], 'status', 'warm_room', 'dispatcher_joined')
if f[1] ~= 'dispatched' or not f[2] or f[2] == '' or f[3] then return 0 end
if a.joined then
  redis.call('HSET', KEYS[1], 'dispatcher_joined', NOW)
else
  redis.call('HDEL', KEYS[1], 'warm_room')
end
return 1
""",
)


# KEYS[1] the call. The handler's leg could not be moved into the room (they hung up first): a
# transfer not yet taken becomes cold (`cold`: the caller's Dial action, which their hang-up
# brings, takes it so); one taken warm already left the caller in the room (`in_room`).
_HANDLER_GONE = script(
    """
local f = redis.call('HMGET', KEYS[1], 'status', 'transfer', 'warm_room')
if f[1] == 'connected' and f[2] and f[2] ~= '' then
  redis.call('HDEL', KEYS[1], 'handler_moving')
  return 'cold'
end
if f[3] and f[3] ~= '' then return 'in_room' end
return ''
""",
)


ROOM_PREFIX = "lifeline-"


def room_of(call_sid: str) -> str:
    """The conference room of a warm transfer: one per call."""
    return f"{ROOM_PREFIX}{call_sid}"


def call_of_room(room: str) -> str | None:
    """The caller's CallSid a room (its friendly name) is of; None for a room not Lifeline's."""
    call = room.removeprefix(ROOM_PREFIX)
    if call == room or not call.startswith("CA"):
        return None
    return call


class LeftRoom(NamedTuple):
    then: str  # "", to_queue, release, to_dispatch
    clinician: str = ""  # release: the clinician being rung, and their offer
    offer: int = 0


class Asked(NamedTuple):
    outcome: str  # requested, again, already, not_connected
    leg: str  # the handler's leg, to move off the call


class Transfers:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._request = Script(redis, _REQUEST)
        self._take = Script(redis, _TAKE)
        self._left_room = Script(redis, _LEFT_ROOM)
        self._dispatcher = Script(redis, _DISPATCHER)
        self._handler_gone = Script(redis, _HANDLER_GONE)

    async def request(self, sid: str, transfer: Transfer, target: int, skill: str = "") -> Asked:
        """Keep the handler's request on the call; for a clinician, start the clock to one
        (`target`: the urgency's, in seconds; `skill`: what makes a handler a clinician)."""
        outcome, leg = await self._request(
            keys=[keys.call(sid)],
            args=[
                json.dumps(
                    {
                        "sid": sid,
                        "now": repr(transfer.at),
                        "handler": transfer.by,
                        "to": transfer.to.value,
                        "urgency": transfer.urgency,
                        "notes": transfer.notes,
                        "warm": transfer.warm,
                        "target": target,
                        "skill": skill,
                        "transfer": transfer.model_dump_json(),
                    }
                )
            ],
        )
        return Asked(str(outcome), str(leg))

    async def take(
        self, sid: str, to: Onward, placement: Placement, now: float, warm: bool = False
    ) -> tuple[str, bool]:
        """Move the caller on (see `_TAKE`): `dispatched`, `queued`, `unserved`, or "" when
        there was no transfer to take (or it was taken already); and whether into the room
        (`warm` asked, and the handler's leg on its way there)."""
        outcome, _, went = await self._take(
            keys=[keys.call(sid), keys.queue(placement.queue), OUTCOMES],
            args=[
                json.dumps(
                    {
                        "sid": sid,
                        "now": repr(now),
                        "to": to.value,
                        "placement": placement.model_dump_json(),
                        "queue": placement.queue,
                        "priority": int(placement.priority),
                        "warm": warm,
                        "room": room_of(sid),
                    }
                )
            ],
        )
        return str(outcome), bool(went)

    async def left_room(self, sid: str, handler: str, now: float) -> LeftRoom:
        then, clinician, offer = await self._left_room(
            keys=[keys.call(sid)],
            args=[json.dumps({"sid": sid, "handler": handler, "now": repr(now)})],
        )
        return LeftRoom(str(then), str(clinician), int(offer))

    async def dispatcher(self, sid: str, joined: bool, now: float) -> bool:
        """The dispatcher's leg answered (`joined`) or failed; False if that changed nothing."""
        return bool(
            await self._dispatcher(
                keys=[keys.call(sid)], args=[json.dumps({"joined": joined, "now": repr(now)})]
            )
        )

    async def handler_gone(self, sid: str, now: float) -> str:
        """See `_HANDLER_GONE`: `cold`, `in_room` or ""."""
        return str(
            await self._handler_gone(keys=[keys.call(sid)], args=[json.dumps({"now": repr(now)})])
        )

    async def status(self, sid: str) -> str:
        return str(await self.redis.hget(keys.call(sid), "status") or "")

    async def out_of_room(self, sid: str) -> bool:
        """The caller has left the room; True if they were in it."""
        return bool(await self.redis.hdel(keys.call(sid), "warm_room"))

    async def keep_leg(self, sid: str, field: str, leg: str) -> None:
        """The call a job placed into the room (`clinician_leg`, `dispatcher_leg`)."""
        await self.redis.hset(keys.call(sid), field, leg)

    async def field(self, sid: str, field: str) -> str:
        """One field of the call's record ("" if none): a leg a job placed, say."""
        return str(await self.redis.hget(keys.call(sid), field) or "")

    async def rooms_since(self, before: float) -> list[str]:
        """The calls that went into a warm room before `before` (the sweep's to look at)."""
        return [str(sid) for sid in await self.redis.zrangebyscore(keys.WARM_ROOMS, "-inf", before)]

    async def room_looked_at(self, sid: str) -> None:
        await self.redis.zrem(keys.WARM_ROOMS, sid)

    async def in_room(self, sid: str) -> str:
        """The room the caller is in for a warm transfer, or ""."""
        return str(await self.redis.hget(keys.call(sid), "warm_room") or "")

    async def moving(self, sid: str, leg_moving: bool) -> None:
        """The job moves the handler's leg into the room (or could not)."""
        if leg_moving:
            await self.redis.hset(keys.call(sid), "handler_moving", "1")
        else:
            await self.redis.hdel(keys.call(sid), "handler_moving")

    async def sent(self, sid: str) -> Transfer | None:
        """The transfer asked, or, once taken, the one done."""
        pending, done = await self.redis.hmget(keys.call(sid), ["transfer", "sent_on"])
        raw = pending or done
        return Transfer.model_validate_json(raw) if raw else None

    async def asked(self, sid: str) -> Transfer | None:
        """The transfer asked and not yet taken."""
        raw = await self.redis.hget(keys.call(sid), "transfer")
        return Transfer.model_validate_json(raw) if raw else None
