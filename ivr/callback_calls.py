"""The calls Lifeline places to call patients back: both legs, and the outcome of each attempt.

By default the handler is rung first and hears the case; then the patient is dialled (with
answering-machine detection) and the two are bridged. With `first: patient` in the rule set the
patient is rung first, greeted, then put through to the handler.
"""

from __future__ import annotations

import logging

from ivr.context import Ivr
from ivr.forms import AnsweredForm, DialForm, StatusForm
from ivr.states import CallbackLeg
from prompts.catalogue import Locale, PromptId
from routing import connecting, keys
from routing.callbacks import Callback, CallbackStatus, UnknownCallback
from routing.decisions import CallbackBridge, Decision, Goodbye, Nothing, Whisper, say
from routing.handlers import Handler
from routing.offers import Release

log = logging.getLogger(__name__)

MACHINE = "machine"
FINAL = frozenset({"completed", "no-answer", "busy", "failed", "canceled"})


async def live(ivr: Ivr, state: CallbackLeg) -> Callback | None:
    """The callback, if this offer of it is still the live one."""
    try:
        callback = await ivr.callbacks.get(state.cb)
    except UnknownCallback:
        return None
    if callback.status not in (CallbackStatus.RESERVED, CallbackStatus.CONNECTED):
        return None
    if callback.handler != state.handler or callback.offers != state.offer:
        return None
    return callback


def by_machine(answered_by: str) -> bool:
    return answered_by.startswith("machine") or answered_by == "fax"


async def answer(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The first leg answered: the handler (ring the patient next) or the patient (ring the
    handler next, unless an answering machine picked up)."""
    callback = await live(ivr, state)
    if callback is None:
        return connecting.taken()
    rules = (await ivr.rulebook.active()).callbacks
    if state.leg == "patient":
        if by_machine(form.answered_by):
            await attempted(ivr, state, MACHINE)
            return Nothing()  # no message on a machine: who else hears it is unknown
        handler = await ivr.handlers.get(state.handler)
        refused = connecting.phone_refused(handler, ivr.settings.policy_exceptions)
        if refused:
            return await not_dialled(ivr, form, state, Locale(callback.locale), handler, refused)
        device = handler.profile.device
        return CallbackBridge(
            locale=Locale(callback.locale),
            say=say(PromptId.CALLBACK_GREETING),
            callback=callback.id,
            handler=state.handler,
            offer=state.offer,
            first="patient",
            to_kind=device.kind,
            address=device.address,
            timeout_seconds=(await ivr.rulebook.active()).offers.offer_timeout_seconds,
            machine_detection=False,
        )
    record = await ivr.calls.get(callback.call_sid) if callback.call_sid else None
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


async def not_dialled(
    ivr: Ivr, form: AnsweredForm, state: CallbackLeg, locale: Locale, handler: Handler, why: str
) -> Decision:
    """Patient first, the patient on the line: the handler's phone is outside the number policy
    (kept from before it; checked as for a caller's connect, ivr/connect.py). It is not dialled;
    the handler goes offline, saying why; the patient is told, and the callback keeps its place."""
    rules = await ivr.rulebook.active()
    extra = {"case_id": state.cb, "call_sid": form.call_sid}
    member = keys.callback_member(state.cb)
    await ivr.offers.phone_refused(member, handler, state.offer, why, ivr.clock.now(), rules, extra)
    return Goodbye(locale=locale, say=say(PromptId.CALLBACK_HANDLER_BUSY))


async def greet(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The patient answered the handler's dial (this request is on the patient's leg)."""
    callback = await live(ivr, state)
    if callback is None:
        return Goodbye(locale=Locale.EN, say=say(PromptId.CALLBACK_HANDLER_BUSY))
    if by_machine(form.answered_by):
        await ivr.callbacks.machine_answered(callback.id, state.offer)
        return Goodbye(locale=Locale.EN, say=())  # the dial's result counts the attempt
    await attempted(ivr, state, "answered")
    return Whisper(locale=Locale(callback.locale), say=say(PromptId.CALLBACK_GREETING), accept=True)


async def whisper(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The handler answered, the patient already on the line (patient first)."""
    callback = await live(ivr, state)
    if callback is None:
        return connecting.taken()
    await attempted(ivr, state, "answered")
    record = await ivr.calls.get(callback.call_sid) if callback.call_sid else None
    reason = record.answers.reason if record else None
    spoken = connecting.callback_whisper(
        callback.case_id, callback.priority, reason, patient_waiting=True
    )
    return Whisper(say=spoken, accept=True)


async def result(ivr: Ivr, form: DialForm, state: CallbackLeg) -> Decision:
    """The first leg's dial to the other party is over."""
    now = ivr.clock.now()
    bridged = form.dial_status == "completed" and form.bridged != "false"
    if bridged and not await ivr.callbacks.was_machine(state.cb, state.offer):
        if await ivr.callbacks.done(state.cb, now):
            log.info("callback made", extra={"case_id": state.cb})
        return Nothing()
    if state.leg == "handler":  # the patient was not reached; the handler hears so
        outcome = (
            MACHINE
            if await ivr.callbacks.was_machine(state.cb, state.offer)
            else (form.dial_status if form.dial_status != "completed" else "no-answer")
        )
        await attempted(ivr, state, outcome)
        return Goodbye(locale=Locale.EN, say=say(PromptId.CALLBACK_NOT_REACHED))
    # Patient first: the handler did not answer. The patient is told; the callback keeps its place.
    rules = await ivr.rulebook.active()
    why = Release.FAILED if form.dial_status == "failed" else Release.MISSED
    await ivr.offers.release(
        keys.callback_member(state.cb), state.handler, state.offer, now, why, rules
    )
    callback = await ivr.callbacks.get(state.cb)
    return Goodbye(locale=Locale(callback.locale), say=say(PromptId.CALLBACK_HANDLER_BUSY))


async def status(ivr: Ivr, form: StatusForm, state: CallbackLeg) -> Decision:
    """Status callbacks of the first leg: the first one records the call (so a retried job
    places no second call); a final one for a leg never answered is that offer's outcome."""
    await ivr.callbacks.outbound_started(state.cb, state.offer, form.call_sid)
    if form.call_status not in FINAL or form.call_status == "completed":
        return Nothing()
    if await live(ivr, state) is None:
        return Nothing()
    now = ivr.clock.now()
    if state.leg == "patient":
        await attempted(ivr, state, form.call_status)
    else:
        rules = await ivr.rulebook.active()
        why = Release.FAILED if form.call_status in ("failed", "canceled") else Release.MISSED
        await ivr.offers.release(
            keys.callback_member(state.cb), state.handler, state.offer, now, why, rules
        )
    return Nothing()


async def attempted(ivr: Ivr, state: CallbackLeg, outcome: str) -> str:
    rules = (await ivr.rulebook.active()).callbacks
    status = await ivr.callbacks.attempted(
        state.cb, state.handler, state.offer, outcome, rules, ivr.clock.now()
    )
    log.info("callback attempt: %s -> %s", outcome, status, extra={"case_id": state.cb})
    return status
