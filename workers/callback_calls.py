"""Placing a reserved callback: one outbound call, never two, and no worker held waiting long.

The call goes at the calling slot the shared limit gives it (workers/ratelimit.py): a run whose
slot is more than a sweep away puts the call on the agenda a sweep before that moment and ends;
the sweep starts it again then, and it waits out the rest (under a second) in the job, so that
the calls one sweep hands out still go each at its own moment.

Outbound POSTs to Twilio are not idempotent, so before `calls.create` a run records
its intent (the callback's dial record: offer, numbers, time and a marker of its own) and marks
the offer as dialling in the callback's record, which the floor's sweep honours as it honours a
placed call; the SID replaces both as soon as Twilio's answer is in. A run that finds an intent
whose outcome is unknown (the run before died, or Twilio's answer was lost) asks Twilio's Calls
list and adopts the call it finds; it decides that none was made only after asking twice, once
no request sent for the intent could still be making one. A new offer first finds out the same
about the last offer's call, and waits while that call is live.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from config import paths
from routing import callback_numbers, connecting, keys
from routing.agenda import SWEEP_SECONDS, CallbackCall
from routing.callbacks import DIALLING, Callback, Callbacks, CallbackStatus, UnknownCallback
from routing.models import mask
from routing.offers import Release
from workers.dial_intents import (
    CLOCK_SKEW_SECONDS,
    LINE_BUSY,
    DialIntent,
    DialTiming,
    Intents,
    line_digest,
    outbound_field,
    pick,
)
from workers.runtime import Runtime
from workers.telephony import (
    FINAL,
    REQUEST_TIMEOUT_SECONDS,
    CallGone,
    CallSeen,
    RateLimited,
    TelephonyError,
    Unavailable,
)

log = logging.getLogger(__name__)

RECHECK_SECONDS = 2.0  # between two looks that find nothing: a call just made may not be listed
WATCH_SECONDS = 5.0  # an adopted call (its status callbacks may be lost) is looked at till it ends
SLOT_LEAD_SECONDS = SWEEP_SECONDS  # a calling slot this close is waited for in the job
SLOT_PATIENCE_SECONDS = 120.0  # a slot further away than this: the callback goes back in line
NO_SLOT_HOLD_SECONDS = 60.0  # ...and out of the handlers' reach this long, as the slots go
EARLIER_KEPT = 5
UNANSWERED = frozenset({"busy", "failed", "no-answer", "canceled"})


def claim_key(callback_id: str, offer: int) -> str:
    """Where a run's claim on placing an offer's call is: the callback's dial intent (one a
    callback, naming its offer)."""
    return keys.callback_dial(callback_id)


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


class Placing:
    """One run of the placing job for one offer of a callback."""

    def __init__(self, rt: Runtime, callback: Callback, handler_id: str, offer: int) -> None:
        self.rt = rt
        self.callback = callback
        self.handler_id = handler_id
        self.offer = offer
        self.agenda = rt.agenda
        self.due = CallbackCall(callback=callback.id, handler=handler_id, offer=offer)
        self.timing = DialTiming(rt.settings.twilio_latest_call_seconds)
        self.intents = Intents(rt.redis, callback.id, self.timing)
        self.telephony = rt.telephony
        self.numbers = rt.numbers
        self.limit = rt.calls_per_second
        self.holder = f"{callback.id}:{offer}"
        self.ids = {"case_id": callback.id}

    async def run(self) -> str:
        intent = await self.intents.get()
        if intent is not None:
            outcome = await self.earlier(intent)
            if outcome is not None:
                return outcome
        current = await self.intents.get()  # what the look at the last call left
        if (current.marker if current else "") != (intent.marker if intent else ""):
            return "placing"  # another run recorded its intent meanwhile, and sees to it
        return await self.place(current)

    async def earlier(self, intent: DialIntent) -> str | None:
        """What became of the callback's last call, before another is placed: the run's outcome,
        or None to go on and place one."""
        if intent.offer > self.offer:  # a later offer's: this one was released meanwhile
            await self.agenda.remove(self.due)
            return "stale"
        if intent.void:
            return None
        if intent.unknown:
            held = await self.rt.redis.hget(
                keys.callback(self.callback.id), outbound_field(intent.offer)
            )
            if held and not str(held).startswith(DIALLING):  # its status callback came
                known = intent.model_copy(update={"sid": str(held)})
                await self.intents.update(intent, known)
                intent = known
        if intent.unknown:
            return await self.find(intent)
        same = intent.offer == self.offer
        if intent.watched or (not same and not intent.ended):
            return await self.follow(intent, None)
        if same:
            await self.agenda.remove(self.due)
            return "already placed"
        return None

    async def find(self, intent: DialIntent) -> str | None:
        """Ask Twilio for the intent's call: adopt it if it is there; decide it never was only
        after a second look, once no request for it could still be making one."""
        now = self.rt.clock.now()
        day = datetime.fromtimestamp(intent.at - CLOCK_SKEW_SECONDS, UTC).date()
        try:
            calls = await self.telephony.calls_between(intent.to, intent.caller_id, day)
        except TelephonyError:
            await self.agenda.put(self.due, now + RECHECK_SECONDS)
            return "checking"
        call = pick(intent, calls, await self.intents.taken(intent), self.timing)
        if call is None:
            looked = now if intent.looked is None else intent.looked
            if intent.looked is None:
                await self.intents.update(intent, intent.model_copy(update={"looked": now}))
            ready = max(looked + RECHECK_SECONDS, intent.at + self.timing.settled)
            if now < ready:
                await self.agenda.put(self.due, ready)
                return "checking"
            log.warning("the last call was never made: placing one", extra=self.ids)
            void = intent.model_copy(update={"void": True})
            if not await self.intents.update(intent, void, "unmark"):
                return "placing"  # another run recorded its intent meanwhile, and sees to it
            if intent.offer == self.offer:
                await self.limit.forget(self.holder)  # a new try, at a new slot
            return None
        adopted = intent.model_copy(update={"sid": call.sid})
        await self.intents.update(intent, adopted, "sid")
        log.warning("adopted a call whose placing went unrecorded", extra=self.call_ids(call.sid))
        outcome = await self.follow(adopted, call)
        return "adopted" if outcome is not None and intent.offer == self.offer else outcome

    async def follow(self, intent: DialIntent, call: CallSeen | None) -> str | None:
        """The intent's call is known: while it is live, look again later. Once it has ended:
        this offer's outcome, if it was this offer's call; if an earlier offer's, the attempt it
        made on the patient should nobody have counted it, else go on (None) to place one."""
        now = self.rt.clock.now()
        status = call.status if call is not None else ""
        if call is None:
            try:
                status = (await self.telephony.call(intent.sid)).status
            except CallGone:
                status = "gone"  # Twilio knows no such call: nothing rings
            except TelephonyError:
                await self.agenda.put(self.due, now + RECHECK_SECONDS)
                return "checking"
        same = intent.offer == self.offer
        if status != "gone" and status not in FINAL:
            if not intent.watched:
                await self.intents.update(intent, intent.model_copy(update={"watched": True}))
            await self.agenda.put(self.due, now + WATCH_SECONDS)
            return "watching" if same else "waiting for an earlier call"
        await self.intents.update(
            intent, intent.model_copy(update={"ended": True, "watched": False})
        )
        # The earlier offer was given up on (its handler gone, say) before its call's outcome
        # came, so the patient it rang, unanswered, counts as this offer's attempt: their phone
        # is not rung again at once, but after the retry policy's spacing.
        uncounted = (
            intent.leg == "patient"
            and status in UNANSWERED
            and self.callback.attempts == intent.attempts
        )
        if not same and not uncounted:
            return None
        await self.settle(intent, status)
        await self.agenda.remove(self.due)
        return "call over"

    async def settle(self, intent: DialIntent, status: str) -> None:
        """An adopted call ended unanswered and this offer is still waiting for an outcome (the
        status callback that tells it was lost, or came for an offer given up on): the outcome
        that callback brings (ivr/callback_calls.py, `status`)."""
        if status not in UNANSWERED:
            return
        rt = self.rt
        if await live_offer(rt.callbacks, self.callback.id, self.handler_id, self.offer) is None:
            return
        rules = await rt.rulebook.active()
        now = rt.clock.now()
        if intent.leg == "patient":
            await rt.callbacks.attempted(
                self.callback.id, self.handler_id, self.offer, status, rules.callbacks, now
            )
        else:
            why = Release.FAILED if status in ("failed", "canceled") else Release.MISSED
            member = keys.callback_member(self.callback.id)
            await rt.offers.release(member, self.handler_id, self.offer, now, why, rules)
        log.info("outcome of an adopted call: %s", status, extra=self.call_ids(intent.sid))

    async def place(self, previous: DialIntent | None) -> str:
        """Place the call if its slot has come (taking one if it has none), else put it on the
        agenda for its slot."""
        rt, callback = self.rt, self.callback
        rules = await rt.rulebook.active()
        try:
            moment = await self.limit.slot(
                self.holder, rules.callbacks.calls_per_second, SLOT_PATIENCE_SECONDS
            )
        except TimeoutError:
            log.warning("no calling slot soon: back in line", extra=self.ids)
            member = keys.callback_member(callback.id)
            now = rt.clock.now()
            released = await rt.offers.release(
                member, self.handler_id, self.offer, now, Release.FAILED, rules
            )
            # Not offered again at once to the handler just freed (nor any other), only to meet
            # the same limit: it waits out of reach while the slots ahead are used.
            if released:
                await rt.callbacks.hold_back(callback.id, now + NO_SLOT_HOLD_SECONDS, now)
            await self.agenda.remove(self.due)
            return "no slot"
        now = rt.clock.now()  # the moment was given by the clock as it is now, not at the start
        if moment > now + SLOT_LEAD_SECONDS:
            # The offer's time runs from its slot: the sweep leaves an offer waiting its turn.
            waits = await rt.callbacks.waits_for_slot(
                callback.id, self.handler_id, self.offer, moment, now
            )
            if not waits:
                await self.agenda.remove(self.due)
                return "stale"
            # On the agenda, which hands items out a sweep at a time: a sweep early, so that
            # the calls of one sweep go each at its own moment, not all at once.
            await self.agenda.put(self.due, moment - SLOT_LEAD_SECONDS)
            return "waiting for a calling slot"
        await rt.clock.sleep(moment - now)  # under a sweep's length: the moment kept exactly
        now = rt.clock.now()  # the intent's time is when its request goes
        device = (await rt.handlers.get(self.handler_id)).profile.device
        handler_address = f"client:{device.address}" if device.kind == "client" else device.address
        first = rules.callbacks.first
        earlier: tuple[str, ...] = ()
        if previous is not None:
            earlier = (*previous.earlier, previous.sid) if previous.sid else previous.earlier
        to = handler_address if first == "handler" else callback.number
        caller_id = callback.line or rt.settings.ambulance_dispatch_number
        intent = DialIntent(
            marker=secrets.token_hex(8),
            offer=self.offer,
            leg=first,
            to=to,
            caller_id=caller_id,
            line=line_digest(self.numbers, to, caller_id),
            at=now,
            attempts=callback.attempts,
            earlier=earlier[-EARLIER_KEPT:],
        )
        # Should this run die while placing, the next one looks for its call then.
        await self.agenda.put(self.due, now + REQUEST_TIMEOUT_SECONDS)
        began = await self.intents.begin(
            intent, self.handler_id, previous.marker if previous else ""
        )
        if began == LINE_BUSY:  # until that call is known, this one's could be taken for it
            await self.limit.forget(self.holder)
            await self.agenda.put(self.due, now + RECHECK_SECONDS)
            return "line busy"
        if began < 0:
            await self.agenda.remove(self.due)
            return "stale"
        if began == 0:
            return "placing"  # another run recorded its intent first, and sees to it
        answer = paths.callback(
            paths.CALLBACK_ANSWER, callback.id, self.handler_id, self.offer, first
        )
        status = paths.callback(
            paths.CALLBACK_STATUS, callback.id, self.handler_id, self.offer, first
        )
        try:
            call = await self.telephony.place(
                to=intent.to,
                from_=intent.caller_id,
                url=rt.settings.public_url(answer),
                status_callback=rt.settings.public_url(status),
                machine_detection=first == "patient" and rules.callbacks.machine_detection,
            )
        except RateLimited:
            # A 429 placed nothing: a new try at the next sweep, at a new slot.
            await self.intents.update(intent, intent.model_copy(update={"void": True}), "unmark")
            await self.limit.forget(self.holder)
            await self.agenda.put(self.due, now)
            return "rate limited"
        except Unavailable:
            await self.agenda.put(self.due, rt.clock.now() + RECHECK_SECONDS)
            return "unsure"  # perhaps placed: the next run asks Twilio
        except TelephonyError as error:
            await self.intents.update(intent, intent.model_copy(update={"void": True}), "unmark")
            await self.refused(error, first)
            return "refused"
        await self.intents.update(intent, intent.model_copy(update={"sid": call.sid}), "sid")
        await self.agenda.remove(self.due)
        log.info("callback placed", extra=self.call_ids(call.sid) | {"first": first})
        return "placed"

    async def refused(self, error: TelephonyError, first: str) -> None:
        """Twilio refused the call (a number it will not dial): a failed attempt if the patient
        was to be rung, or the callback handed back if it was the handler's phone."""
        log.warning("callback refused by Twilio: %s", error, extra=self.ids)
        rt, now = self.rt, self.rt.clock.now()
        rules = await rt.rulebook.active()
        if first == "patient":
            await rt.callbacks.attempted(
                self.callback.id, self.handler_id, self.offer, "failed", rules.callbacks, now
            )
        else:
            member = keys.callback_member(self.callback.id)
            await rt.offers.release(member, self.handler_id, self.offer, now, Release.FAILED, rules)
        await self.agenda.remove(self.due)

    def call_ids(self, call_sid: str) -> dict[str, str]:
        return self.ids | {"call_sid": call_sid}


async def place_callback(rt: Runtime, callback_id: str, handler_id: str, offer: int) -> str:
    """Place the call if its slot has come (taking one if it has none), else put it on the
    agenda for its slot; first find out what became of the callback's last call. Returns what
    it did."""
    due = CallbackCall(callback=callback_id, handler=handler_id, offer=offer)
    # The offer may have been released meanwhile (the sweep gives up on offers whose outcome
    # never comes) and made to someone else.
    callback = await live_offer(rt.callbacks, callback_id, handler_id, offer)
    if callback is None:
        await rt.agenda.remove(due)
        return "stale"
    # Whichever leg is first, the handler's phone is dialled: the patient is not rung to be
    # put through to a phone that may not be.
    if await handler_phone_refused(rt, callback, handler_id, offer):
        await rt.agenda.remove(due)
        return "phone refused"
    why = await callback_numbers.refused(rt.redis, callback)
    if why:  # a number keyed in before the number policy: not rung
        log.warning(
            "callback to %s: %s", mask(callback.number), why, extra={"case_id": callback.id}
        )
        now = rt.clock.now()
        await callback_numbers.give_up(rt.redis, callback_id, handler_id, offer, why, now)
        await rt.agenda.remove(due)
        return "number refused"
    return await Placing(rt, callback, handler_id, offer).run()


async def handler_phone_refused(
    rt: Runtime, callback: Callback, handler_id: str, offer: int
) -> bool:
    """The handler's phone, kept from before the number policy, is outside it (checked as for a
    caller's connect, routing/putting_through.py): the handler goes offline, saying why, and the
    callback back to its place for another handler."""
    handler = await rt.handlers.get(handler_id)
    why = connecting.phone_refused(handler, rt.settings.policy_exceptions)
    if why is None:
        return False
    rules = await rt.rulebook.active()
    member = keys.callback_member(callback.id)
    extra = {"case_id": callback.id}
    await rt.offers.phone_refused(member, handler, offer, why, rt.clock.now(), rules, extra)
    return True
