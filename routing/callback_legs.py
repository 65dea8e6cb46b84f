"""The calls Lifeline places to call patients back: both legs, and the outcome of each attempt.

By default the handler is rung first and hears the case; then the patient is dialled (with
answering-machine detection) and the two are bridged. With `first: patient` in the rule set the
patient is rung first, greeted, then put through to the handler. Each step takes the Floor, the
leg (which callback, its offer, which party rang first) and what Twilio said of the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prompts.catalogue import Locale, PromptId
from routing import after_call, connecting, keys
from routing.callbacks import Callback, CallbackStatus, UnknownCallback
from routing.decisions import CallbackBridge, Decision, Goodbye, Nothing, Whisper, say
from routing.floor import Floor
from routing.handlers import Handler
from routing.models import Priority
from routing.offers import Release

log = logging.getLogger(__name__)

MACHINE = "machine"
STILL_TO_MAKE = frozenset(
    {CallbackStatus.PENDING, CallbackStatus.SCHEDULED, CallbackStatus.RESERVED}
)
FINAL = frozenset({"completed", "no-answer", "busy", "failed", "canceled"})


@dataclass(frozen=True)
class Leg:
    """A leg of a callback's call: the callback, the handler and offer, and which leg rang
    first ("handler" or "patient")."""

    cb: str
    handler: str
    offer: int
    leg: str


async def live(floor: Floor, state: Leg) -> Callback | None:
    """The callback, if this offer of it is still the live one."""
    try:
        callback = await floor.callbacks.get(state.cb)
    except UnknownCallback:
        return None
    if callback.status not in (CallbackStatus.RESERVED, CallbackStatus.CONNECTED):
        return None
    if callback.handler != state.handler or callback.offers != state.offer:
        return None
    return callback


def by_machine(answered_by: str) -> bool:
    return answered_by.startswith("machine") or answered_by == "fax"


async def answer(floor: Floor, state: Leg, call_sid: str, answered_by: str) -> Decision:
    """The first leg answered: the handler (ring the patient next) or the patient (ring the
    handler next, unless an answering machine picked up)."""
    callback = await live(floor, state)
    if callback is None:
        if state.leg == "patient":  # taken back while their phone rang: they keep their place
            return await _called_again_shortly(floor, state, answered_by)
        return connecting.taken()
    rules = (await floor.rulebook.active()).callbacks
    # This leg runs the recorded <Dial>: Twilio's list names the recording by it alone.
    await floor.redis.set(keys.callback_leg(call_sid), callback.id, ex=keys.CALL_TTL_SECONDS)
    if state.leg == "patient":
        if by_machine(answered_by):
            await attempted(floor, state, MACHINE)
            return Nothing()  # no message on a machine: who else hears it is unknown
        handler = await floor.handlers.get(state.handler)
        refused = connecting.phone_refused(handler, floor.settings.policy_exceptions)
        if refused:
            return await not_dialled(
                floor, state, call_sid, Locale(callback.locale), handler, refused
            )
        device = handler.profile.device
        return CallbackBridge(
            locale=Locale(callback.locale),
            say=say(PromptId.CALLBACK_GREETING, PromptId.RECORDING_NOTICE),
            callback=callback.id,
            handler=state.handler,
            offer=state.offer,
            first="patient",
            to_kind=device.kind,
            address=device.address,
            timeout_seconds=(await floor.rulebook.active()).offers.offer_timeout_seconds,
            machine_detection=False,
        )
    record = await floor.calls.get(callback.call_sid) if callback.call_sid else None
    reason = record.answers.reason if record else None
    return CallbackBridge(
        locale=Locale.EN,
        say=connecting.callback_whisper(callback.case_id, callback.priority, reason),
        callback=callback.id,
        handler=state.handler,
        offer=state.offer,
        first="handler",
        to_kind="number",
        address=callback.number,
        timeout_seconds=rules.ring_seconds,
        machine_detection=rules.machine_detection,
    )


async def _called_again_shortly(floor: Floor, state: Leg, answered_by: str) -> Decision:
    """The patient answers a call whose offer was taken back: told they will be called again
    if their callback is still to be made; nothing said to a machine, nor any promise made
    for a callback that is over (made, cancelled, left for a clinician)."""
    if by_machine(answered_by):
        return Nothing()
    try:
        callback = await floor.callbacks.get(state.cb)
    except UnknownCallback:
        return Goodbye(locale=Locale.EN, say=())
    if callback.status not in STILL_TO_MAKE:
        return Goodbye(locale=Locale(callback.locale), say=())
    return Goodbye(locale=Locale(callback.locale), say=say(PromptId.CALLBACK_HANDLER_BUSY))


async def not_dialled(
    floor: Floor, state: Leg, call_sid: str, locale: Locale, handler: Handler, why: str
) -> Decision:
    """Patient first, the patient on the line: the handler's phone is outside the number policy
    (kept from before it; checked as for a caller's connect, routing/putting_through.py). It is
    not dialled; the handler goes offline, saying why; the patient is told, and the callback keeps
    its place."""
    rules = await floor.rulebook.active()
    extra = {"case_id": state.cb, "call_sid": call_sid}
    member = keys.callback_member(state.cb)
    await floor.offers.phone_refused(
        member, handler, state.offer, why, floor.clock.now(), rules, extra
    )
    return Goodbye(locale=locale, say=say(PromptId.CALLBACK_HANDLER_BUSY))


async def greet(floor: Floor, state: Leg, answered_by: str) -> Decision:
    """The patient answered the handler's dial (this request is on the patient's leg)."""
    callback = await live(floor, state)
    if callback is None:
        return Goodbye(locale=Locale.EN, say=say(PromptId.CALLBACK_HANDLER_BUSY))
    if by_machine(answered_by):
        await floor.callbacks.machine_answered(callback.id, state.offer)
        return Goodbye(locale=Locale.EN, say=())  # the dial's result counts the attempt
    await attempted(floor, state, "answered")
    return Whisper(
        locale=Locale(callback.locale),
        say=say(PromptId.CALLBACK_GREETING, PromptId.RECORDING_NOTICE),
        accept=True,
    )


async def whisper(floor: Floor, state: Leg) -> Decision:
    """The handler answered, the patient already on the line (patient first)."""
    callback = await live(floor, state)
    if callback is None:
        return connecting.taken()
    await attempted(floor, state, "answered")
    record = await floor.calls.get(callback.call_sid) if callback.call_sid else None
    reason = record.answers.reason if record else None
    spoken = connecting.callback_whisper(
        callback.case_id, callback.priority, reason, patient_waiting=True
    )
    return Whisper(say=spoken, accept=True)


async def result(
    floor: Floor,
    state: Leg,
    dial_status: str,
    bridged: str,
    call_status: str = "completed",
    call_sid: str = "",
) -> Decision:
    """The first leg's dial to the other party is over (`call_status`: the first leg's own)."""
    now = floor.clock.now()
    connected = dial_status == "completed" and bridged != "false"
    if connected and not await floor.callbacks.was_machine(state.cb, state.offer):
        if await floor.callbacks.done(state.cb, now):
            log.info("callback made", extra={"case_id": state.cb})
        if state.leg == "patient" and call_status not in FINAL:
            return await _feedback(floor, state, call_sid)
        return Nothing()
    if state.leg == "handler":  # the patient was not reached; the handler hears so
        outcome = (
            MACHINE
            if await floor.callbacks.was_machine(state.cb, state.offer)
            else (dial_status if dial_status != "completed" else "no-answer")
        )
        await attempted(floor, state, outcome)
        return Goodbye(locale=Locale.EN, say=say(PromptId.CALLBACK_NOT_REACHED))
    # Patient first: the handler did not answer. The patient is told; the callback keeps its place.
    rules = await floor.rulebook.active()
    why = Release.FAILED if dial_status == "failed" else Release.MISSED
    await floor.offers.release(
        keys.callback_member(state.cb), state.handler, state.offer, now, why, rules
    )
    callback = await floor.callbacks.get(state.cb)
    return Goodbye(locale=Locale(callback.locale), say=say(PromptId.CALLBACK_HANDLER_BUSY))


async def _feedback(floor: Floor, state: Leg, call_sid: str) -> Decision:
    """Patient first, the handler has hung up and the patient is still on the line: the
    feedback question if the rules ask them (the handler first, the patient is the handler's
    dialled leg and goes when they do: not asked)."""

    async def caller() -> after_call.Caller | None:
        try:
            callback = await floor.callbacks.get(state.cb)
        except UnknownCallback:
            return None
        emergency = callback.priority is Priority.EMERGENCY
        return after_call.Caller(Locale(callback.locale), callback.queue, emergency)

    return await after_call.after_handler(floor, call_sid, state.handler, caller, callback=True)


async def status(floor: Floor, state: Leg, call_sid: str, call_status: str) -> Decision:
    """Status callbacks of the first leg: the first one records the call (so a retried job
    places no second call); a final one for a leg never answered is that offer's outcome."""
    await floor.callbacks.outbound_started(state.cb, state.offer, call_sid)
    if call_status not in FINAL or call_status == "completed":
        return Nothing()
    if await live(floor, state) is None:
        return Nothing()
    now = floor.clock.now()
    if state.leg == "patient":
        await attempted(floor, state, call_status)
    else:
        rules = await floor.rulebook.active()
        why = Release.FAILED if call_status in ("failed", "canceled") else Release.MISSED
        await floor.offers.release(
            keys.callback_member(state.cb), state.handler, state.offer, now, why, rules
        )
    return Nothing()


async def attempted(floor: Floor, state: Leg, outcome: str) -> str:
    rules = (await floor.rulebook.active()).callbacks
    status = await floor.callbacks.attempted(
        state.cb, state.handler, state.offer, outcome, rules, floor.clock.now()
    )
    log.info("callback attempt: %s -> %s", outcome, status, extra={"case_id": state.cb})
    return status
