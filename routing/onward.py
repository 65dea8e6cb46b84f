"""A handler sends their caller on, during the call: put through to the ambulance dispatch line
(the case id read to the dispatcher, the ambulance request sent to the clinical system or kept
in the journal: the same in both modes), or into the clinicians' queue at an urgency, keeping
the caller's place by their arrival.

The handler asks (`send_on`); a job moves the handler's leg off the call; Twilio sends the
caller's leg to its Dial action, where `sent_on` moves the caller. If the job cannot move the
leg, the handler ending the call does the same: the caller goes on either way, never to a dead
line."""

from __future__ import annotations

import logging

from prompts.catalogue import PromptId
from routing.callbacks import Callback, ClinicianAsk, NumberTaken
from routing.cases import CaseKind, opened
from routing.decisions import Decision, Enqueue, Nothing, say
from routing.floor import Floor
from routing.handlers import HandlerState
from routing.models import (
    Answers,
    CallFacts,
    CallRecord,
    CallStatus,
    Placement,
    Priority,
    Screen,
    mask,
)
from routing.numbers import uk_number
from routing.placing import emergency_dial, offer_waiting
from routing.rules import RuleSet
from routing.transfers import Onward, Transfer

log = logging.getLogger(__name__)


class SendOnRefused(Exception):
    """Nothing was changed; the message says why, for the handler."""


async def send_on(floor: Floor, handler_id: str, transfer: Transfer) -> Transfer:
    """The handler's request, for the call they are on. For the dispatch line, the ambulance
    request goes to the clinical system now (the handler's decision stands whatever becomes of
    the call); for a clinician, the clock to one starts now. SendOnRefused if it cannot be."""
    handler = await floor.handlers.get(handler_id)
    if handler.state is not HandlerState.BUSY or not handler.call:
        raise SendOnRefused("You are not on a call: there is nobody to send on.")
    sid = handler.call
    record = await floor.calls.get(sid)
    if record is None:
        raise SendOnRefused(
            "This is a callback: send the patient on by arranging a clinician callback "
            "at wrap-up, or ask them to call back."
        )
    rules = await floor.rulebook.active()
    target = 0
    if transfer.to is Onward.CLINICIAN:
        target = clinician_target(rules, transfer.urgency)
    now = floor.clock.now()
    asked = transfer.model_copy(update={"by": handler_id, "at": now})
    outcome, leg = await floor.transfers.request(sid, asked, target)
    if outcome == "not_connected":
        raise SendOnRefused("The call is over, or not yet through to you: nobody to send on.")
    if outcome == "already":
        kept = await floor.transfers.asked(sid)
        where = "the ambulance service" if kept and kept.to is Onward.DISPATCH else "a clinician"
        raise SendOnRefused(f"This caller is being sent on already, to {where}.")
    if outcome == "no_leg":
        raise SendOnRefused(
            "Lifeline does not know which call is yours for this caller: end your call, "
            "and they go back to their place."
        )
    if outcome == "requested":
        await floor.audit.record(
            handler_id,
            "call.send_on",
            record.case_id,
            now,
            to=transfer.to,
            urgency=transfer.urgency,
        )
    if transfer.to is Onward.DISPATCH:
        await floor.outbound.hand_off(
            f"the ambulance request of {sid}",
            floor.outbound.send_case,
            opened(record, CaseKind.AMBULANCE, record.caller, Priority.EMERGENCY, transfer.notes),
            open_case=True,
        )
    await floor.outbound.hand_off(
        f"moving the handler's leg off {sid}", floor.outbound.release_leg, sid, leg, transfer.to
    )
    log.info("sending on: %s", transfer.to.value, extra={"call_sid": sid, "handler": handler_id})
    return asked


def clinician_target(rules: RuleSet, urgency: str) -> int:
    onward = rules.onward
    if onward.clinician_queue is None:
        raise SendOnRefused("The rule set names no clinicians' queue: ask a supervisor.")
    level = onward.urgencies.get(urgency)
    if level is None:
        raise SendOnRefused(f"Choose one of the urgencies: {', '.join(onward.urgencies)}.")
    return level.target_seconds


async def sent_on(floor: Floor, sid: str) -> Decision | None:
    """The caller's Dial action, with a transfer asked: where the caller goes now. None if no
    transfer is asked: the call goes on as any other. The same action again (a webhook sent
    twice) sends the caller where the first sent them."""
    transfer = await floor.transfers.asked(sid)
    if transfer is None:
        return None
    record = await floor.calls.get(sid)
    if record is None:
        return None
    now = floor.clock.now()
    if transfer.to is Onward.DISPATCH:
        placement = emergency_placement(await floor.rulebook.active(), record)
        taken = await floor.transfers.take(record.sid, Onward.DISPATCH, placement, now)
    else:
        rules = await floor.rulebook.active()
        placement = clinician_placement(rules, transfer, record)
        taken = await floor.transfers.take(record.sid, Onward.CLINICIAN, placement, now)
        if taken == "unserved":  # the rules changed since this process read them
            floor.rulebook.forget()
            rules = await floor.rulebook.active()
            placement = clinician_placement(rules, transfer, record)
            taken = await floor.transfers.take(record.sid, Onward.CLINICIAN, placement, now)
        if taken == "unserved":  # and again: where the rules place the caller, never nowhere
            placement = rules.place(CallFacts.of(record.answers, record.line, now))
            taken = await floor.transfers.take(record.sid, Onward.CLINICIAN, placement, now)
    if not taken:
        return await _where_sent(floor, record.sid)
    log.info("sent on: %s", taken, extra={"call_sid": record.sid, "queue": placement.queue})
    if taken == "dispatched":
        return emergency_dial(floor, record)
    await offer_waiting(floor)
    return Enqueue(
        locale=record.locale,
        queue=placement.queue,
        priority=placement.priority,
        say=say(PromptId.SENT_TO_CLINICIAN),
    )


async def _where_sent(floor: Floor, sid: str) -> Decision:
    """A transfer taken already: the caller's place now (with someone already, or their call
    over: nothing more)."""
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        return Nothing()
    if record.status is CallStatus.DISPATCHED:
        return emergency_dial(floor, record)
    if record.status is CallStatus.QUEUED:
        placement = record.placement
        return Enqueue(locale=record.locale, queue=placement.queue, priority=placement.priority)
    return Nothing()


def emergency_placement(rules: RuleSet, record: CallRecord) -> Placement:
    answers = Answers.model_validate(
        record.answers.model_dump() | {"screen": Screen.YES, "locale": record.locale}
    )
    return rules.place(CallFacts.of(answers, record.line))


def clinician_placement(rules: RuleSet, transfer: Transfer, record: CallRecord) -> Placement:
    """The clinicians' queue at the urgency asked (see `RuleSet.clinician_placement`); with no
    clinicians' queue (a rule change since), where the rules place the caller."""
    placement = rules.clinician_placement(transfer.urgency)
    if placement is None:
        log.warning("no clinicians' queue: placed by the rules", extra={"call_sid": record.sid})
        return rules.place(CallFacts.of(record.answers, record.line))
    return placement


async def arrange_clinician_callback(
    floor: Floor, handler_id: str, urgency: str, notes: str, number: str = ""
) -> Callback:
    """A clinician's callback for the handler's caller (on the call, or in its wrap-up), in the
    clinicians' queue at the urgency's class and due by its target: the callback machinery
    reaches the patient in their turn. To the caller's own number, or to `number` (a UK phone
    the patient gave). SendOnRefused if it cannot be made; the same asked again is the one
    made."""
    handler = await floor.handlers.get(handler_id)
    if handler.state not in (HandlerState.BUSY, HandlerState.WRAP_UP) or not handler.call:
        raise SendOnRefused("You have no call to arrange a clinician callback for.")
    record = await floor.calls.get(handler.call)
    if record is None:
        raise SendOnRefused(
            "This is a callback already: a supervisor can re-prioritise it, or give it to a "
            "clinician, from the callbacks page."
        )
    rules = await floor.rulebook.active()
    target = clinician_target(rules, urgency)
    placement = rules.clinician_placement(urgency)
    assert placement is not None  # clinician_target refused rules without a clinicians' queue
    to = uk_number(number.lstrip("+")) if number else record.caller
    if not to:
        raise SendOnRefused(
            "Give the number to call the patient back on (a UK phone): their own is withheld."
            if not number
            else f"{mask(number)} is not a UK phone a patient can be called back on."
        )
    now = floor.clock.now()
    ask = ClinicianAsk(urgency=urgency, target=target, notes=notes, by=handler_id)
    try:
        booked = await floor.callbacks.for_clinician(
            record.sid, to, record.caller, placement, ask, rules.callbacks, now
        )
    except NumberTaken as taken:
        raise SendOnRefused(
            f"The number {mask(to)} has a callback to come already ({taken.held_by}): a "
            "supervisor can make it more urgent from the callbacks page."
        ) from None
    if not booked.kept:
        await floor.audit.record(
            handler_id, "callback.clinician", booked.callback, now, urgency=urgency
        )
        log.info("clinician callback arranged", extra={"call_sid": record.sid})
    await offer_waiting(floor)
    return await floor.callbacks.get(booked.callback)
