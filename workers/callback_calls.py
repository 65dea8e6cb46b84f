"""Placing a reserved callback: one outbound call, never two, and no worker held waiting.

The call goes at the calling slot the shared limit gives it (workers/ratelimit.py): a run whose
slot is still to come puts the call on the agenda for that moment and ends, and the sweep starts
it again then. Outbound POSTs to Twilio are not idempotent, so a run claims the offer before
placing; a run that finds the claim taken (the run before died, or could not tell whether Twilio
placed the call) waits, on the agenda too, for Twilio's `initiated` status callback, which
records the call, before deciding it was never placed.
"""

from __future__ import annotations

import logging

from routing import keys
from routing.agenda import Agenda, CallbackCall
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
SLOT_PATIENCE_SECONDS = 120.0  # a slot further away than this: the callback goes back in line


def outbound_field(offer: int) -> str:
    return f"outbound:{offer}"


def claim_key(callback_id: str, offer: int) -> str:
    return f"{keys.PREFIX}:place-claim:{callback_id}:{offer}"


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
    """Place the call if its slot has come (taking one if it has none), else put it on the
    agenda for its slot; returns what it did."""
    agenda = Agenda(rt.redis)
    due = CallbackCall(callback=callback_id, handler=handler_id, offer=offer)
    limit, holder = CallsPerSecond(rt.redis, rt.clock), f"{callback_id}:{offer}"
    now = rt.clock.now()
    # The offer may have been released meanwhile (the sweep gives up on offers whose outcome
    # never comes) and made to someone else.
    callback = await live_offer(Callbacks(rt.redis), callback_id, handler_id, offer)
    if callback is None:
        await agenda.remove(due)
        return "stale"
    claim = claim_key(callback_id, offer)
    claimed = await rt.redis.get(claim)
    if claimed is not None:
        if await rt.redis.hget(keys.callback(callback_id), outbound_field(offer)):
            await agenda.remove(due)
            return "already placed"
        if now < float(claimed) + INITIATED_WAIT_SECONDS:
            await agenda.put(due, float(claimed) + INITIATED_WAIT_SECONDS)
            return "placing"
        log.warning("an earlier run died before placing", extra={"case_id": callback_id})
        await rt.redis.delete(claim)
        await limit.forget(holder)  # a new try, at a new slot
    rules = await RuleBook(rt.redis).active()
    try:
        moment = await limit.slot(holder, rules.callbacks.calls_per_second, SLOT_PATIENCE_SECONDS)
    except TimeoutError:
        log.warning("no calling slot soon: back in line", extra={"case_id": callback_id})
        member = f"cb:{callback_id}"
        await Offers(rt.redis).release(member, handler_id, offer, now, Release.FAILED, rules)
        await agenda.remove(due)
        return "no slot"
    now = rt.clock.now()  # the moment was given by the clock as it is now, not at the start
    if moment > now:
        await agenda.put(due, moment)
        return "waiting for a calling slot"
    if not await rt.redis.set(claim, repr(now), nx=True, ex=CLAIM_TTL_SECONDS):
        return "placing"  # another run claimed it this instant, and checks on it as below
    # Should this run die while placing, the call is checked on after the wait for `initiated`.
    await agenda.put(due, now + INITIATED_WAIT_SECONDS)
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
        # A 429 placed nothing: a new try at the next sweep, at a new slot.
        await rt.redis.delete(claim)
        await limit.forget(holder)
        await agenda.put(due, now)
        return "rate limited"
    except Unavailable:
        return "unsure"  # perhaps placed: checked on after the wait for `initiated`
    except TelephonyError as error:
        # Twilio refused the call (a number it will not dial): count it as a failed attempt if
        # the patient was to be rung, or hand the callback back if it was the handler's phone.
        log.warning("callback refused by Twilio: %s", error, extra={"case_id": callback_id})
        if first == "patient":
            await Callbacks(rt.redis).attempted(
                callback_id, handler_id, offer, "failed", rules.callbacks, rt.clock.now()
            )
        else:
            await Offers(rt.redis).release(
                f"cb:{callback_id}", handler_id, offer, rt.clock.now(), Release.FAILED, rules
            )
        await agenda.remove(due)
        return "refused"
    await rt.redis.hsetnx(keys.callback(callback_id), outbound_field(offer), call.sid)
    await agenda.remove(due)
    ids = {"case_id": callback_id, "call_sid": call.sid, "first": first}
    log.info("callback placed", extra=ids)
    return "placed"
