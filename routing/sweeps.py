"""Housekeeping on the floor: lost handlers, lost offers, expired queue entries."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from routing import keys
from routing.assignment import Assigner, Offer
from routing.callbacks import Callbacks
from routing.handlers import Handlers, HandlerState
from routing.offers import Offers, Release
from routing.rules import RuleSet


async def sweep_orphans(redis: Redis) -> int:
    """Remove queue entries with no record behind them (expired calls); returns how many."""
    removed = 0
    prefix = keys.queue_prefix()
    scanned = redis.scan_iter(match=prefix + "*", count=1000)
    queues = [str(key).removeprefix(prefix) async for key in scanned]
    for queue in queues:
        members = [str(member) for member in await redis.zrange(keys.queue(queue), 0, -1)]
        if not members:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for member in members:
                if keys.is_callback(member):
                    pipe.exists(keys.record(member))
                else:
                    pipe.exists(keys.call(member))
            present = await pipe.execute()
        gone = [member for member, exists in zip(members, present, strict=True) if not exists]
        if gone:
            removed += int(await redis.zrem(keys.queue(queue), *gone))
    return removed


PLACED_CALLBACK_GRACE_SECONDS = 600  # a placed callback call's outcome: after a conversation


@dataclass(frozen=True)
class SweepReport:
    handlers_gone: list[str]
    offers_released: list[str]
    offers: list[Offer]
    callbacks_due: int = 0
    callbacks_raised: list[str] = field(default_factory=list)


async def sweep_floor(redis: Redis, rules: RuleSet, now: float) -> SweepReport:
    """Handlers whose console went quiet go offline (a call offered to them goes back to its
    place); offers whose outcome never came back are released; then free handlers are given
    the best waiting calls."""
    handlers = Handlers(redis)
    offers = Offers(redis)
    gone = []
    for handler_id in await handlers.silent_since(now - rules.offers.heartbeat_timeout_seconds):
        # One step: an offer goes back to its place; a call under way keeps its handler, who
        # goes offline once it is over.
        left = await handlers.transition(
            handler_id,
            HandlerState.OFFLINE,
            now,
            tuple(state for state in HandlerState if state is not HandlerState.OFFLINE),
            reason="heartbeat lost",
            after_call=True,
        )
        if left is not None:
            gone.append(handler_id)
    released = []
    cutoff = now - rules.offers.offer_timeout_seconds - rules.offers.lost_after_seconds
    # A callback whose call Twilio has placed is left to that call's outcome, for longer.
    placed_cutoff = cutoff - rules.callbacks.ring_seconds - PLACED_CALLBACK_GRACE_SECONDS
    for member in await offers.overdue(cutoff):
        fields = await redis.hmget(keys.record(member), ["handler", "offers"])
        offer = int(fields[1] or 0)
        if keys.is_callback(member):
            placed = await redis.hget(keys.record(member), f"outbound:{offer}")
            reserved_at = float(await redis.zscore(keys.RESERVED, member) or now)
            if placed and reserved_at > placed_cutoff:
                continue
        if await offers.release(member, str(fields[0] or ""), offer, now, Release.FAILED, rules):
            released.append(member)
    callbacks = Callbacks(redis)
    due = await callbacks.release_due(now)
    raised = await callbacks.raise_at_risk(now)
    assigned = await Assigner(redis).assign(rules, now)
    return SweepReport(
        handlers_gone=gone,
        offers_released=released,
        offers=assigned,
        callbacks_due=due,
        callbacks_raised=raised,
    )
