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

from config import paths
from prompts.catalogue import Locale, PromptId
from routing.callbacks import Callback, ClinicianAsk, NumberTaken
from routing.cases import CaseKind, opened
from routing.connecting import spoken_case_id
from routing.decisions import Decision, Dial, Enqueue, Goodbye, Nothing, Room, Spoken, say
from routing.dispatch_line import dispatch_dial
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
    case_id_for,
    mask,
)
from routing.numbers import uk_number
from routing.offers import Release
from routing.placing import NoPlacement, emergency_dial, finish, offer_waiting
from routing.rules import RuleSet
from routing.transfers import Onward, Transfer, room_of

log = logging.getLogger(__name__)


NOT_JOINED = frozenset({"busy", "no-answer", "failed", "canceled"})


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
            "This is a callback: it cannot be sent on. For an ambulance, ask the patient to "
            "hang up and call 999; for a clinician, ask a supervisor to give the callback to one."
        )
    rules = await floor.rulebook.active()
    target = 0
    warm = transfer.warm
    if transfer.to is Onward.CLINICIAN:
        target = clinician_target(rules, transfer.urgency)
        if await floor.transfers.field(sid, "clinician_callback"):
            raise SendOnRefused(
                "A clinician's callback is arranged for this caller already: a supervisor can "
                "make it more urgent from the callbacks page."
            )
    else:
        warm = rules.onward.dispatch_warm  # the rule set says, for the dispatch line
        transfer = transfer.model_copy(update={"urgency": ""})  # an urgency is a clinician's
    now = floor.clock.now()
    asked = transfer.model_copy(update={"by": handler_id, "at": now, "warm": warm})
    outcome, leg = await floor.transfers.request(
        sid, asked, target, rules.onward.clinician_skill or ""
    )
    if outcome == "not_connected":
        raise SendOnRefused("The call is over, or not yet through to you: nobody to send on.")
    if outcome == "already":
        kept = await floor.transfers.asked(sid)
        where = "the ambulance service" if kept and kept.to is Onward.DISPATCH else "a clinician"
        raise SendOnRefused(f"This caller is being sent on already, to {where}.")
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
    if transfer.to is Onward.DISPATCH and not warm:
        # The caller's own leg, straight to a webhook that dials the dispatch line, with or
        # without Redis (the handler's leg drops with the bridge): nothing to wait on.
        await floor.outbound.hand_off(
            f"{sid} to the dispatch line",
            floor.outbound.redirect_call,
            sid,
            paths.with_call(paths.TO_DISPATCH, sid),
            CallStatus.CONNECTED,  # once: not again for a caller on their way already
        )
    elif leg:  # else (a call put through before legs were kept) the handler hanging up moves it
        await floor.outbound.hand_off(
            f"moving the handler's leg off {sid}",
            floor.outbound.release_leg,
            sid,
            leg,
            transfer.to,
            warm,
            handler_id,
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


async def sent_on(floor: Floor, sid: str, cold: bool = False) -> Decision | None:
    """The caller's Dial action, with a transfer asked: where the caller goes now. None if no
    transfer is asked: the call goes on as any other. The same action again (a webhook sent
    twice) sends the caller where the first sent them. `cold`: without the room, whatever was
    asked (the handler's leg never moved, and the caller is moved by their own)."""
    transfer = await floor.transfers.asked(sid)
    if transfer is None:
        return None
    if cold:
        transfer = transfer.model_copy(update={"warm": False})
    record = await floor.calls.get(sid)
    if record is None:
        return None
    taken, went, placement = await _take(floor, record, transfer, floor.clock.now())
    if not taken:
        return await _where_sent(floor, record.sid, transfer.by)
    log.info("sent on: %s", taken, extra={"call_sid": record.sid, "queue": placement.queue})
    if taken == "dispatched":
        if went:
            await floor.outbound.hand_off(
                f"the dispatcher's leg of {sid}", floor.outbound.dial_dispatcher, sid
            )
            return in_room(record, transfer.by, PromptId.AMBULANCE_CONNECTING)
        return emergency_dial(floor, record)
    await offer_waiting(floor)
    if went:
        return in_room(record, transfer.by, PromptId.SENT_TO_CLINICIAN)
    return queued_in(record, placement, PromptId.SENT_TO_CLINICIAN)


async def _take(
    floor: Floor, record: CallRecord, transfer: Transfer, now: float
) -> tuple[str, bool, Placement]:
    """The transfer taken (see `Transfers.take`), and where to. A clinicians' queue the active
    rules no longer have (they changed since this process read them) is looked up again, and
    failing that the caller goes where their answers lead: never nowhere."""
    rules = await floor.rulebook.active()
    if transfer.to is Onward.DISPATCH:
        placement = emergency_placement(rules, record)
        taken, went = await floor.transfers.take(
            record.sid, transfer.to, placement, now, warm=transfer.warm
        )
        return taken, went, placement
    placement = clinician_placement(rules, transfer, record)
    taken, went = await floor.transfers.take(
        record.sid, transfer.to, placement, now, warm=transfer.warm
    )
    if taken == "unserved":
        floor.rulebook.forget()
        rules = await floor.rulebook.active()
        facts = CallFacts.of(record.answers, record.line, now)
        for placement in (clinician_placement(rules, transfer, record), rules.place(facts)):
            taken, went = await floor.transfers.take(
                record.sid, transfer.to, placement, now, warm=transfer.warm
            )
            if taken != "unserved":
                break
    return taken, went, placement


def in_room(record: CallRecord, handler: str, prompt: PromptId | None = None) -> Room:
    """The caller, into the warm transfer's room that `handler` sent them to: it ends when they
    leave it."""
    return Room(
        locale=record.locale,
        say=say(prompt) if prompt else (),
        room=room_of(record.sid),
        who="caller",
        call=record.sid,
        handler=handler,
        end_on_exit=True,
    )


async def _where_sent(floor: Floor, sid: str, handler: str) -> Decision:
    """A transfer taken already: the caller's place now (with someone already, or their call
    over: nothing more)."""
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        return Nothing()
    if await floor.transfers.in_room(sid):
        return in_room(record, handler)
    if record.status is CallStatus.DISPATCHED:
        return emergency_dial(floor, record)
    if record.status is CallStatus.QUEUED:
        return waiting_in(record)
    return Nothing()


def waiting_in(record: CallRecord, prompt: PromptId | None = None) -> Decision:
    assert record.placement is not None
    return queued_in(record, record.placement, prompt)


def queued_in(record: CallRecord, placement: Placement, prompt: PromptId | None = None) -> Enqueue:
    return Enqueue(
        locale=record.locale,
        queue=placement.queue,
        priority=placement.priority,
        say=say(prompt) if prompt else (),
    )


# A warm transfer, step by step (the webhooks of ivr/connect.py call these).


async def handler_left(floor: Floor, sid: str, handler_id: str) -> Decision:
    """The handler's leg left the room (they hung up, or the room ended): they wrap up, and a
    caller left without a clinician or a dispatcher goes on without the room."""
    now = floor.clock.now()
    left = await floor.transfers.left_room(sid, handler_id, now)
    if left.then == "release":
        # A clinician's phone rings into the room the caller is leaving: not theirs after all.
        rules = await floor.rulebook.active()
        released = await floor.offers.release(
            sid, left.clinician, left.offer, now, Release.FAILED, rules
        )
        rung = await floor.transfers.field(sid, "clinician_leg")
        if rung and released:  # else they answered meanwhile: they have the caller
            await floor.outbound.hand_off(
                f"the clinician rung for {sid}", floor.outbound.hang_up, rung
            )
    if left.then in ("to_queue", "release"):
        # Unless a clinician is offered the caller meanwhile: their connect moves the caller.
        await floor.outbound.hand_off(
            f"{sid} out of the room",
            floor.outbound.redirect_call,
            sid,
            paths.with_call(paths.TO_QUEUE, sid),
            CallStatus.QUEUED,
        )
    elif left.then == "to_dispatch":
        await floor.outbound.hand_off(
            f"{sid} out of the room",
            floor.outbound.redirect_call,
            sid,
            paths.with_call(paths.TO_DISPATCH, sid),
        )
        ringing = await floor.transfers.field(sid, "dispatcher_leg")
        if ringing:  # the dispatch line must not be rung twice for one caller
            await floor.outbound.hand_off(
                f"the dispatcher's leg of {sid}", floor.outbound.hang_up, ringing
            )
    return Goodbye(locale=Locale.EN, say=say(PromptId.LEFT_ROOM))


async def sweep_room(floor: Floor, sid: str, labels: frozenset[str] | None) -> str:
    """The sweep's look at a warm transfer's room (`labels`: who is in it, as Twilio lists them;
    None, no room live): a room the handler has left with nobody's leaving recorded (both its
    signals lost) is left as they would have left it. Returns what it did."""
    sent = await floor.transfers.sent(sid)
    room = await floor.transfers.in_room(sid)
    if not room or sent is None:
        await floor.transfers.room_looked_at(sid)
        return "done"
    if labels is not None and "handler" in labels:
        return "handler there"  # still introducing: looked at again next time
    await handler_left(floor, sid, sent.by)
    await floor.transfers.room_looked_at(sid)
    log.warning("warm room without its handler: caller moved on", extra={"call_sid": sid})
    return "moved"


async def handler_gone(floor: Floor, sid: str, handler_id: str) -> str:
    """The handler's leg could not be moved into the room: they hung up before it was. Not yet
    taken, the transfer becomes cold (`cold`); taken warm, the caller in the room goes on
    without them, as when a handler leaves it (`in_room`)."""
    then = await floor.transfers.handler_gone(sid, floor.clock.now())
    if then == "in_room":
        await handler_left(floor, sid, handler_id)
    return then


async def room_exit(floor: Floor, sid: str, who: str) -> Decision:
    """A room Dial is over on the caller's leg (the room ended: whoever took them has left it,
    or nobody did) or the dispatcher's. A caller nobody took goes on without the room."""
    if who != "caller":
        return Nothing()
    record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        return Nothing()
    if record.status in (CallStatus.QUEUED, CallStatus.RESERVED):
        await floor.transfers.out_of_room(sid)
        return waiting_in(record, PromptId.STILL_QUEUED)
    if record.status is CallStatus.DISPATCHED and await floor.transfers.dispatcher(
        sid, joined=False, now=floor.clock.now()
    ):
        return emergency_dial(floor, record)  # the dispatcher never came: a plain dial
    await finish(floor, sid)
    return Nothing()


async def back_to_queue(floor: Floor, sid: str) -> Decision:
    """The caller's leg, moved out of the room (or, its handler's leg never moved, straight
    from the call): waiting for a clinician in their place."""
    record = await floor.calls.get(sid)
    if record is not None and record.status is CallStatus.CONNECTED:
        taken = await sent_on(floor, sid, cold=True)  # a transfer still to take
        if isinstance(taken, Enqueue):
            return taken
        record = await floor.calls.get(sid)
    if record is None or record.placement is None:
        raise NoPlacement(sid)
    await offer_waiting(floor)
    return waiting_in(record, PromptId.STILL_QUEUED)


async def to_dispatch(floor: Floor, sid: str) -> Decision:
    """The caller's leg, moved (out of the room, or straight from the call) to the dispatch
    line by a plain dial; a transfer still to take is taken."""
    record = await floor.calls.get(sid)
    if record is None:
        return dispatch_dial(floor.settings.ambulance_dispatch_number, Locale.EN, sid)
    if record.status is CallStatus.CONNECTED:
        taken = await sent_on(floor, sid, cold=True)
        if isinstance(taken, Dial):
            return taken
    return emergency_dial(floor, record)


async def clinician_status(
    floor: Floor, sid: str, clinician: str, offer: int, status: str, leg: str
) -> Decision:
    """A status callback of the clinician's call into the room: answered, they are with the
    caller (and the clock to a clinician stops); not answered, the caller is offered to the next
    in their place, the handler still with them."""
    now = floor.clock.now()
    if status in ("in-progress", "answered"):
        if not await floor.offers.answered(sid, clinician, offer, now, leg):
            log.info("a clinician joined a room no longer theirs", extra={"call_sid": sid})
            await floor.outbound.hand_off(f"the clinician's leg {leg}", floor.outbound.hang_up, leg)
        return Nothing()
    if status in NOT_JOINED:
        why = Release.MISSED if status in ("busy", "no-answer") else Release.FAILED
        rules = await floor.rulebook.active()
        if await floor.offers.release(sid, clinician, offer, now, why, rules):
            log.info("clinician's call %s", status, extra={"call_sid": sid})
            await offer_waiting(floor)
    return Nothing()


async def dispatcher_answered(floor: Floor, sid: str) -> Decision:
    """The dispatcher's leg answered: the case id, then into the room with the caller; unless
    the caller went on by a plain dial meanwhile."""
    record = await floor.calls.get(sid)
    case_id = case_id_for(sid)
    spoken = (Spoken.of(PromptId.DISPATCH_WHISPER, case_id=spoken_case_id(case_id)),)
    if record is None or not await floor.transfers.in_room(sid):
        return Goodbye(locale=Locale.EN, say=spoken + say(PromptId.PUT_THROUGH_ELSEWHERE))
    await floor.transfers.dispatcher(sid, joined=True, now=floor.clock.now())
    return Room(
        locale=Locale.EN,
        say=spoken,
        room=room_of(sid),
        who="dispatcher",
        call=sid,
        end_on_exit=True,
    )


async def dispatcher_status(floor: Floor, sid: str, status: str) -> Decision:
    """The dispatcher's leg answered (they are joining the room), or did not: the caller goes on
    by a plain dial, at once."""
    if status in ("in-progress", "answered"):
        await floor.transfers.dispatcher(sid, joined=True, now=floor.clock.now())
    elif status in NOT_JOINED and await floor.transfers.dispatcher(
        sid, joined=False, now=floor.clock.now()
    ):
        log.warning("dispatcher's leg %s: a plain dial", status, extra={"call_sid": sid})
        await floor.outbound.hand_off(
            f"{sid} out of the room",
            floor.outbound.redirect_call,
            sid,
            paths.with_call(paths.TO_DISPATCH, sid),
        )
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
    sent = await floor.transfers.sent(record.sid)
    waiting = record.status in (CallStatus.CONNECTED, CallStatus.QUEUED, CallStatus.RESERVED)
    if sent is not None and sent.to is Onward.CLINICIAN and sent.by == handler_id and waiting:
        raise SendOnRefused("This caller is on their way to a clinician already.")
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
    ask = ClinicianAsk(
        urgency=urgency,
        target=target,
        notes=notes,
        by=handler_id,
        skill=rules.onward.clinician_skill or "",
    )
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
