"""The job that places a callback's outbound call: it places nothing for an offer that is no
longer live, including one released while the job waited for a calling slot."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from lifeline.settings import Settings
from routing import keys
from routing.clock import VirtualClock
from routing.offers import Offers, Release
from routing.rules import default_rules
from tests.ivr.test_callback_calls import callback, offered
from tests.staff import Staff
from tests.twilio import TwilioClient
from workers import ratelimit
from workers.callback_calls import place_callback
from workers.runtime import Runtime


def place_while_released(
    settings: Settings, clock: VirtualClock, callback_id: str, release_after: float
) -> str:
    async def go() -> str:
        client = redis.asyncio.Redis.from_url(str(settings.redis_url), decode_responses=True)
        try:
            # The next calling slot is a second away: the job waits for it.
            moment = int((clock.now() + 1.0) * ratelimit.MICROSECONDS)
            await client.set(ratelimit.KEY, moment)

            async def release() -> None:
                await asyncio.sleep(release_after)
                member = f"cb:{callback_id}"
                rules = default_rules()
                await Offers(client).release(member, "h1", 1, clock.now(), Release.FAILED, rules)

            releasing = asyncio.create_task(release())
            rt = Runtime(settings=settings, redis=client, clock=clock)
            outcome = await place_callback(rt, callback_id, "h1", 1)
            await releasing
            return outcome
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_an_offer_released_while_waiting_for_a_calling_slot_places_no_call(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
    settings: Settings,
) -> None:
    callback_id = offered(twilio, sync_redis, staff, redis_url, clock)
    # settings point at no phone network: a call placed here would fail the job loudly
    assert place_while_released(settings, clock, callback_id, release_after=0.2) == "stale"
    assert callback(sync_redis, callback_id)["status"] == "pending"
    assert sync_redis.exists(f"{keys.PREFIX}:place-claim:{callback_id}:1") == 0
