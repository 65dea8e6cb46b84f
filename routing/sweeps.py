"""Housekeeping on the floor: lost handlers, lost offers, expired queue entries."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from routing import keys
from routing.assignment import Assigner, Offer
from routing.handlers import Handlers, HandlerState
from routing.offers import Offers, Release
from routing.rules import RuleSet


async def sweep_orphans(redis: Redis) -> int:
    """Remove queue entries with no record behind them (expired calls); returns how many."""
    removed = 0
    prefix = keys.queue_prefix()
    queues = [str(key).removeprefix(prefix) async for key in redis.scan_iter(match=prefix + "*")]
    for queue in queues:
        members = [str(member) for member in await redis.zrange(keys.queue(queue), 0, -1)]
        if not members:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for member in members:
                if member.startswith("cb:"):
                    pipe.exists(keys.callback(member.removeprefix("cb:")))
                else:
                    pipe.exists(keys.call(member))
            present = await pipe.execute()
        gone = [member for member, exists in zip(members, present, strict=True) if not exists]
        if gone:
            removed += int(await redis.zrem(keys.queue(queue), *gone))
    return removed


OFFER_GRACE_SECONDS = 30  # beyond the ring time: the redirect or its outcome went missing


@dataclass(frozen=True)
class SweepReport:
    handlers_gone: list[str]
    offers_released: list[str]
    offers: list[Offer]


async def sweep_floor(redis: Redis, rules: RuleSet, now: float) -> SweepReport:
    """Handlers whose console went quiet go offline (a call offered to them goes back to its
    place); offers whose outcome never came back are released; then free handlers are given
    the best waiting calls."""
    handlers = Handlers(redis)
    offers = Offers(redis)
    gone = await handlers.silent_since(now - rules.offers.heartbeat_timeout_seconds)
    for handler_id in gone:
        handler = await handlers.get(handler_id)
        if handler.state is HandlerState.RESERVED and handler.call:
            offer = int(await redis.hget(_record_key(handler.call), "offers") or 0)
            await offers.release(handler.call, handler_id, offer, now, Release.HANDLER_LEFT, rules)
        await handlers.transition(
            handler_id,
            HandlerState.OFFLINE,
            now,
            tuple(state for state in HandlerState if state is not HandlerState.OFFLINE),
            reason="heartbeat lost",
        )
    released = []
    cutoff = now - rules.offers.offer_timeout_seconds - OFFER_GRACE_SECONDS
    for member in await offers.overdue(cutoff):
        fields = await redis.hmget(_record_key(member), ["handler", "offers"])
        if await offers.release(
            member, str(fields[0] or ""), int(fields[1] or 0), now, Release.FAILED, rules
        ):
            released.append(member)
    assigned = await Assigner(redis).assign(rules, now)
    return SweepReport(handlers_gone=gone, offers_released=released, offers=assigned)


def _record_key(member: str) -> str:
    if member.startswith("cb:"):
        return keys.callback(member.removeprefix("cb:"))
    return keys.call(member)
