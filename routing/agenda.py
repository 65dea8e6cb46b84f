"""The agenda: work due at a moment on Lifeline's clock (the journal's next replay batch, a
callback waiting for its calling slot), one sorted set that the sweep reads every second.

Due times live here, not in RQ's scheduler or its retry delays, so that whatever drives the
clock (the system's, or the simulator's virtual one) drives them. An item handed out comes due
again `REDELIVER_SECONDS` later unless its job puts it back or takes it off first: a job lost on
its way (a sweeper or a worker that died) is not work lost.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from redis.asyncio import Redis

from routing import keys
from routing.lua import argument

AGENDA = keys.AGENDA
SWEEP_SECONDS = 1  # how often the agenda is read (workers/cron.py): the due times' resolution
REDELIVER_SECONDS = 30.0  # longer than any job the agenda starts may run


class ReplayBatch(BaseModel):
    """The contingency journal's next batch (one replay at a time: one such item at most)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["replay"] = "replay"


class CallbackCall(BaseModel):
    """A reserved callback's outbound call: its calling slot has come, or the outcome of an
    earlier try is to be checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["callback"] = "callback"
    callback: str
    handler: str
    offer: int


Due = Annotated[ReplayBatch | CallbackCall, Field(discriminator="kind")]
_DUE: TypeAdapter[ReplayBatch | CallbackCall] = TypeAdapter(Due)
REPLAY_BATCH = ReplayBatch()

# KEYS[1] the agenda. `now`, `again` (when handed-out items come due again), `most` to hand out.
_TAKE = """
local a = cjson.decode(ARGV[1])
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', a.now, 'LIMIT', 0, tonumber(a.most))
for _, item in ipairs(items) do
  redis.call('ZADD', KEYS[1], 'XX', a.again, item)
end
return items
"""


def member(item: ReplayBatch | CallbackCall) -> str:
    return item.model_dump_json()


class Agenda:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)

    async def put(self, item: ReplayBatch | CallbackCall, when: float) -> None:
        """Due at `when` (a new item, or a new time for one already there)."""
        await self.redis.zadd(AGENDA, {member(item): when})

    async def remove(self, item: ReplayBatch | CallbackCall) -> None:
        await self.redis.zrem(AGENDA, member(item))

    async def when(self, item: ReplayBatch | CallbackCall) -> float | None:
        score = await self.redis.zscore(AGENDA, member(item))
        return None if score is None else float(score)

    async def take_due(self, now: float, most: int = 200) -> list[ReplayBatch | CallbackCall]:
        """Items due by `now`, earliest first, each due again after `REDELIVER_SECONDS` unless
        its job reschedules or removes it. One atomic step: two sweeps never take the same."""
        taken = await self._take(
            keys=[AGENDA], args=argument(now=now, again=now + REDELIVER_SECONDS, most=most)
        )
        items: list[ReplayBatch | CallbackCall] = []
        unreadable: list[str] = []
        for raw in taken:
            try:
                items.append(_DUE.validate_json(raw))
            except ValidationError:
                unreadable.append(str(raw))
        if unreadable:  # not ours to run (written by another version): never handed out again
            await self.redis.zrem(AGENDA, *unreadable)
        return items
