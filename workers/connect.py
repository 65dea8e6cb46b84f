"""The job that connects a reserved call to its handler: a REST redirect to the connect TwiML."""

from __future__ import annotations

import logging

from config import paths
from routing import keys
from routing.offers import Release
from workers.callback_calls import place_callback
from workers.runtime import runtime
from workers.telephony import CallGone, RateLimited, TelephonyError, Unavailable
from workers.transfers import ring_into_room

log = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 3600


async def connect(member: str, handler: str, offer: int) -> str:
    """Redirect the caller to TwiML that dials `handler` (or place a reserved callback). Retried
    by RQ on rate limits and outages; a call that has ended releases its handler at once."""
    async with runtime() as rt:
        if keys.is_callback(member):
            return await place_callback(rt, keys.callback_id(member), handler, offer)
        record = await rt.redis.hgetall(keys.call(member))
        if record.get("status") != "reserved" or record.get("handler") != handler:
            return "stale"
        if record.get("offers") != str(offer):
            return "stale"
        claim = keys.connect_claim(member, offer)
        if not await rt.redis.set(claim, "1", nx=True, ex=CLAIM_TTL_SECONDS):
            return "already redirected"
        room = str(record.get("warm_room") or "")
        if room:  # in a warm transfer's room: the clinician is rung into it
            return await ring_into_room(rt, member, handler, offer, room)
        priority = int(record.get("priority") or 0)
        url = rt.settings.public_url(
            paths.connect(handler, offer, priority, str(record.get("locale", "")))
        )
        try:
            await rt.telephony.redirect(member, url)
        except CallGone:
            await rt.calls.finish(member, rt.clock.now())
            log.info("call ended before it could be connected", extra={"call_sid": member})
            return "gone"
        except (RateLimited, Unavailable):
            await rt.redis.delete(claim)
            raise
        except TelephonyError:
            rules = await rt.rulebook.active()
            await rt.offers.release(member, handler, offer, rt.clock.now(), Release.FAILED, rules)
            raise
        log.info("connecting to handler", extra={"call_sid": member, "handler": handler})
        return "redirected"
