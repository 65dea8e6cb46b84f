"""Call handlers: who they are, their state machine, heartbeats, and the Redis that holds them.

Every state change is one compare-and-set in Redis (a handler can only move from the state the
caller believed it was in), is timestamped, and is kept in a stream for statistics.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis.asyncio import Redis

from routing import keys
from routing.lua import MOVE_HANDLER, Script, script
from routing.models import Skill

HandlerId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Proficiency = Annotated[int, Field(ge=1, le=5)]


class HandlerState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    BREAK = "break"


ON_DUTY = (HandlerState.AVAILABLE, HandlerState.RESERVED, HandlerState.BUSY, HandlerState.WRAP_UP)

# What a handler (or a supervisor) may ask for, from each state. Reserved, busy and wrap-up are
# entered only by the system (an offer, an answer, a call's end).
CHOOSABLE: dict[HandlerState, frozenset[HandlerState]] = {
    HandlerState.OFFLINE: frozenset({HandlerState.AVAILABLE, HandlerState.BREAK}),
    HandlerState.AVAILABLE: frozenset({HandlerState.BREAK, HandlerState.OFFLINE}),
    HandlerState.BREAK: frozenset({HandlerState.AVAILABLE, HandlerState.OFFLINE}),
    HandlerState.WRAP_UP: frozenset(
        {HandlerState.AVAILABLE, HandlerState.BREAK, HandlerState.OFFLINE}
    ),
    HandlerState.RESERVED: frozenset({HandlerState.BREAK, HandlerState.OFFLINE}),
    # On a call, a handler's choice takes effect once the call and its wrap-up are over.
    HandlerState.BUSY: frozenset({HandlerState.BREAK, HandlerState.OFFLINE}),
}


class Device(BaseModel):
    """Where a handler's calls ring: a Twilio Client identity (the console) or a phone number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["client", "number"]
    address: Annotated[str, Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _address_fits_kind(self) -> Device:
        pattern = r"^[A-Za-z0-9_-]{1,64}$" if self.kind == "client" else r"^\+[1-9][0-9]{6,14}$"
        if not re.match(pattern, self.address):
            raise ValueError(f"{self.kind} address is malformed")
        return self


class HandlerProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: HandlerId
    name: Annotated[str, Field(min_length=1, max_length=80)]
    skills: dict[Skill, Proficiency] = {}
    device: Device


class Handler(BaseModel):
    """A handler's profile and where they are now."""

    model_config = ConfigDict(frozen=True)

    profile: HandlerProfile
    state: HandlerState
    since: float
    reason: str = ""
    call: str = ""
    missed_in_row: int = 0
    heartbeat: float | None = None
    break_until: float | None = None
    after_call: HandlerState | None = None  # where a busy handler goes once the call is over
    after_call_reason: str = ""


HISTORY_PAGE = 200


class StateChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: float
    from_state: HandlerState
    to: HandlerState
    reason: str = ""


def time_in_states(
    changes: list[StateChange], current: Handler, start: float, now: float
) -> dict[HandlerState, float]:
    """Seconds spent in each state between `start` and `now`, from the changes since `start`
    (oldest first) and where the handler is now."""
    seconds = dict.fromkeys(HandlerState, 0.0)
    if current.since > now:
        return seconds
    state = changes[0].from_state if changes else current.state
    moment = start
    for change in changes:
        seconds[state] += max(0.0, change.at - moment)
        state, moment = change.to, max(moment, change.at)
    seconds[state] += max(0.0, now - moment)
    return seconds


class HandlerError(Exception):
    """A handler operation that cannot be done; carries what and why, never an HTTP code."""


class UnknownHandler(HandlerError):
    pass


class NotAllowed(HandlerError):
    pass


# Compare-and-set a handler's state, keeping the per-state sorted sets (score: since when) and
# the event streams in step. A handler who leaves an offer puts the call back in its place in the
# same step; one who leaves a call (`after_call`) stays with it and goes where they asked once
# the call and its wrap-up are over. ARGV[1] is JSON; returns the outcome and the state the
# handler was in, or an error.
_SET_STATE = script(
    MOVE_HANDLER,
    """
local hkey = K.handler .. a.id
local current = redis.call('HGET', hkey, 'state')
if not current then return {err = 'unknown handler'} end
local allowed = false
for _, state in ipairs(a.from) do if state == current then allowed = true end end
if not allowed then return {'refused', current} end
if current == 'busy' and a.after_call and a.to ~= 'wrap_up' then
  local pending = redis.call('HMGET', hkey, 'after_call', 'after_call_reason')
  if pending[1] == a.to and pending[2] == a.reason then return {'unchanged', current} end
  redis.call('HSET', hkey, 'after_call', a.to, 'after_call_reason', a.reason)
  return {'deferred', current}
end
if current == 'reserved' and a.to ~= 'busy' then
  local member = redis.call('HGET', hkey, 'call')
  if member and member ~= '' and redis.call('HGET', record_key(member), 'handler') == a.id then
    put_back(member)
  end
  redis.call('HSET', hkey, 'call', '')
end
if current == 'wrap_up' and a.to ~= 'wrap_up' then redis.call('HSET', hkey, 'call', '') end
move(a.id, current, a.to, a.reason)
redis.call('HDEL', hkey, 'after_call', 'after_call_reason')
if a.call ~= nil then redis.call('HSET', hkey, 'call', a.call) end
if a.missed ~= nil then redis.call('HSET', hkey, 'missed', a.missed) end
-- Only a missed offer's break ends by itself (its end is set by the release); any other
-- change leaves no timer behind that could end a later break the handler chose.
redis.call('HSET', hkey, 'break_until', a.break_until or '')
return {'ok', current}
""",
)


class Handlers:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._set_state = Script(redis, _SET_STATE)

    async def create(self, profile: HandlerProfile, now: float) -> bool:
        """Add a handler (offline); False if the id is taken."""
        key = keys.handler(profile.id)
        created = await self.redis.hsetnx(key, "profile", profile.model_dump_json())
        if not created:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key, mapping={"state": HandlerState.OFFLINE, "since": repr(now), "reason": ""}
            )
            pipe.sadd(keys.HANDLERS, profile.id)
            pipe.zadd(keys.handler_state(HandlerState.OFFLINE), {profile.id: now})
            for skill, level in profile.skills.items():
                pipe.zadd(keys.skill(skill), {profile.id: level})
            await pipe.execute()
        return True

    async def update_profile(self, profile: HandlerProfile) -> None:
        old = await self.get(profile.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.handler(profile.id), "profile", profile.model_dump_json())
            for skill in old.profile.skills:
                pipe.zrem(keys.skill(skill), profile.id)
            for skill, level in profile.skills.items():
                pipe.zadd(keys.skill(skill), {profile.id: level})
            await pipe.execute()

    async def get(self, handler_id: str) -> Handler:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.handler(handler_id)))
        if not fields:
            raise UnknownHandler(f"no handler {handler_id!r}")
        return handler_from_hash(fields)

    async def all(self) -> list[Handler]:
        ids = sorted(cast(set[str], await self.redis.smembers(keys.HANDLERS)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for handler_id in ids:
                pipe.hgetall(keys.handler(handler_id))
            rows = await pipe.execute()
        return [handler_from_hash(row) for row in rows if row]

    async def transition(
        self,
        handler_id: str,
        to: HandlerState,
        now: float,
        allowed_from: frozenset[HandlerState] | tuple[HandlerState, ...],
        reason: str = "",
        call: str | None = None,
        missed: int | None = None,
        break_until: float | None = None,
        after_call: bool = False,
    ) -> HandlerState | None:
        """Move to `to` if now in one of `allowed_from`; returns the state it was in, or None
        if it was in another state (nothing changed). Leaving an offer puts the call back in its
        place. With `after_call`, a busy handler stays with their call and goes to `to` once it
        and its wrap-up are over (None if that was already so)."""
        change: dict[str, object] = {"call": call, "missed": missed}
        if break_until is not None:
            change["break_until"] = repr(break_until)
        outcome, previous = await self._change(
            handler_id, to, now, allowed_from, reason, after_call, change
        )
        return previous if outcome in ("ok", "deferred") else None

    async def _change(
        self,
        handler_id: str,
        to: HandlerState,
        now: float,
        allowed_from: frozenset[HandlerState] | tuple[HandlerState, ...],
        reason: str,
        after_call: bool,
        extra: dict[str, object],
    ) -> tuple[str, HandlerState]:
        """Run the compare-and-set: its outcome (`ok`, `deferred`, `unchanged`, `refused`)."""
        change: dict[str, object] = {
            "id": handler_id,
            "to": to.value,
            "from": [state.value for state in allowed_from],
            "now": repr(now),
            "reason": reason,
            "after_call": after_call,
        } | {name: value for name, value in extra.items() if value is not None}
        try:
            outcome, previous = await self._set_state(args=[json.dumps(change)])
        except Exception as error:
            if "unknown handler" in str(error):
                raise UnknownHandler(f"no handler {handler_id!r}") from None
            raise
        return str(outcome), HandlerState(previous)

    async def choose(
        self, handler_id: str, to: HandlerState, now: float, reason: str = ""
    ) -> HandlerState:
        """A handler's own choice (available, break, offline), checked against CHOOSABLE. On a
        call, it takes effect once the call and its wrap-up are over (`Handler.after_call`).
        Returns the state the handler was in."""
        current = (await self.get(handler_id)).state
        if to not in CHOOSABLE[current]:
            raise NotAllowed(f"a handler who is {current} cannot choose to be {to}")
        if to is HandlerState.BREAK and not reason:
            reason = "break"
        missed = 0 if to is HandlerState.AVAILABLE else None
        outcome, _ = await self._change(
            handler_id, to, now, (current,), reason, True, {"missed": missed}
        )
        if outcome == "refused":
            raise NotAllowed(f"{handler_id} changed state meanwhile; try again")
        if to is not HandlerState.OFFLINE:
            # Choosing is a sign of life: from now on, silence takes them off the floor.
            await self.redis.zadd(keys.HEARTBEATS, {handler_id: now})
        return current

    async def heartbeat(self, handler_id: str, now: float) -> None:
        if not await self.redis.exists(keys.handler(handler_id)):
            raise UnknownHandler(f"no handler {handler_id!r}")
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.handler(handler_id), "heartbeat", repr(now))
            pipe.zadd(keys.HEARTBEATS, {handler_id: now})
            await pipe.execute()

    async def heartbeats(self, handler_ids: list[str], now: float) -> None:
        """Many consoles' heartbeats at once (known handlers only), in one round trip."""
        if not handler_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for handler_id in handler_ids:
                pipe.hset(keys.handler(handler_id), "heartbeat", repr(now))
            pipe.zadd(keys.HEARTBEATS, dict.fromkeys(handler_ids, now))
            await pipe.execute()

    async def history(self, handler_id: str, since: float) -> list[StateChange]:
        """The handler's state changes since `since`, oldest first. Read newest first, a page at
        a time, by the time each change carries (Lifeline's clock, not the stream ids')."""
        changes: list[StateChange] = []
        newest = "+"
        while True:
            rows = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrevrange(
                    keys.handler_history(handler_id), max=newest, count=HISTORY_PAGE
                ),
            )
            for entry_id, fields in rows:
                if entry_id == newest:
                    continue  # the boundary, read with the page before
                change = StateChange(
                    at=float(fields["at"]),
                    from_state=HandlerState(fields["from"]),
                    to=HandlerState(fields["to"]),
                    reason=fields.get("reason", ""),
                )
                if change.at < since:
                    return changes[::-1]
                changes.append(change)
            if len(rows) < HISTORY_PAGE:
                return changes[::-1]
            newest = rows[-1][0]

    async def silent_since(self, cutoff: float) -> list[str]:
        """Handlers on duty or on a break whose console has not been heard from since `cutoff`."""
        quiet = set(await self.redis.zrangebyscore(keys.HEARTBEATS, "-inf", f"({cutoff}"))
        offline = set(await self.redis.zrange(keys.handler_state(HandlerState.OFFLINE), 0, -1))
        return sorted(str(handler_id) for handler_id in quiet - offline)

    async def on_duty(self) -> int:
        """Handlers taking calls now or about to (on a break or offline do not count)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in ON_DUTY:
                pipe.zcard(keys.handler_state(state))
            counts = await pipe.execute()
        return sum(int(count) for count in counts)

    async def counts(self) -> dict[HandlerState, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in HandlerState:
                pipe.zcard(keys.handler_state(state))
            counts = await pipe.execute()
        return {state: int(count) for state, count in zip(HandlerState, counts, strict=True)}


def handler_from_hash(fields: dict[str, str]) -> Handler:
    return Handler(
        profile=HandlerProfile.model_validate_json(fields["profile"]),
        state=HandlerState(fields["state"]),
        since=float(fields["since"]),
        reason=fields.get("reason", ""),
        call=fields.get("call", ""),
        missed_in_row=int(fields.get("missed", 0) or 0),
        heartbeat=float(fields["heartbeat"]) if fields.get("heartbeat") else None,
        break_until=float(fields["break_until"]) if fields.get("break_until") else None,
        after_call=HandlerState(fields["after_call"]) if fields.get("after_call") else None,
        after_call_reason=fields.get("after_call_reason", ""),
    )
