"""Placing a reserved callback: one outbound call, never two.

Outbound POSTs to Twilio are not idempotent, so the job claims the offer before placing, and a
run that finds the claim taken (a worker died mid-job and RQ retried it) waits for Twilio's
`initiated` status callback, which records the call, before deciding it was never placed.
"""

from __future__ import annotations

import asyncio
import logging

from routing import keys
from routing.callbacks import Callback, Callbacks, CallbackStatus, UnknownCallback
from routing.handlers import Handlers
from routing.offers import Offers, Release
from routing.rulebook import RuleBook
from workers import paths
from workers.ratelimit import CallsPerSecond
from workers.runtime import Runtime
from workers.telephony import RateLimited, Telephony, TelephonyError, Unavailable

log = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 3600
INITIATED_WAIT_SECONDS = 10.0  # Twilio's `initiated` callback comes within a second of creation


def outbound_field(offer: int) -> str:
    return f"outbound:{offer}"


async def placed_already(rt: Runtime, callback_id: str, offer: int, wait: float) -> bool:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        if await rt.redis.hget(keys.callback(callback_id), outbound_field(offer)):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.25)


async def live_offer(
    callbacks: Callbacks, callback_id: str, handler_id: str, offer: int
) -> Callback | None:
    """The callback, if it is still reserved for this handler under this offer."""
    try:
        callback = await callbacks.get(callback_id)
    except UnknownCallback:
        return None
    live = (
        callback.status is CallbackStatus.RESERVED
        and callback.handler == handler_id
        and callback.offers == offer
    )
    return callback if live else None


async def place_callback(rt: Runtime, callback_id: str, handler_id: str, offer: int) -> str:
    callbacks = Callbacks(rt.redis)
    callback = await live_offer(callbacks, callback_id, handler_id, offer)
    if callback is None:
        return "stale"
    claim = f"{keys.PREFIX}:place-claim:{callback_id}:{offer}"
    if not await rt.redis.set(claim, "1", nx=True, ex=CLAIM_TTL_SECONDS):
        if await placed_already(rt, callback_id, offer, INITIATED_WAIT_SECONDS):
            return "already placed"
        log.warning("an earlier run died before placing", extra={"case_id": callback_id})
    rules = await RuleBook(rt.redis).active()
    await CallsPerSecond(rt.redis, rt.clock).acquire(rules.callbacks.calls_per_second)
    # The wait for a calling slot can be long: the offer may have been released meanwhile (the
    # sweep gives up on offers whose outcome never comes) and made to someone else.
    callback = await live_offer(callbacks, callback_id, handler_id, offer)
    if callback is None:
        await rt.redis.delete(claim)
        return "stale"
    handler = await Handlers(rt.redis).get(handler_id)
    device = handler.profile.device
    handler_address = f"client:{device.address}" if device.kind == "client" else device.address
    first = rules.callbacks.first
    to = handler_address if first == "handler" else callback.number
    answer = paths.callback(paths.CALLBACK_ANSWER, callback_id, handler_id, offer, first)
    status = paths.callback(paths.CALLBACK_STATUS, callback_id, handler_id, offer, first)
    try:
        call = await Telephony(rt.settings).place(
            to=to,
            from_=callback.line or rt.settings.ambulance_dispatch_number,
            url=rt.settings.public_url(answer),
            status_callback=rt.settings.public_url(status),
            machine_detection=first == "patient" and rules.callbacks.machine_detection,
        )
    except RateLimited:
        await rt.redis.delete(claim)  # a 429 placed nothing: the retry may place at once
        raise
    except Unavailable:
        raise  # perhaps placed: the retry waits for `initiated` before placing again
    except TelephonyError as error:
        # Twilio refused the call (a number it will not dial): count it as a failed attempt if
        # the patient was to be rung, or hand the callback back if it was the handler's phone.
        log.warning("callback refused by Twilio: %s", error, extra={"case_id": callback_id})
        if first == "patient":
            await callbacks.attempted(
                callback_id, handler_id, offer, "failed", rules.callbacks, rt.clock.now()
            )
        else:
            await Offers(rt.redis).release(
                f"cb:{callback_id}", handler_id, offer, rt.clock.now(), Release.FAILED, rules
            )
        return "refused"
    await rt.redis.hsetnx(keys.callback(callback_id), outbound_field(offer), call.sid)
    ids = {"case_id": callback_id, "call_sid": call.sid, "first": first}
    log.info("callback placed", extra=ids)
    return "placed"
