"""The webhooks of a caller sent on from their handler (routing.onward): the handler's leg moved
off the call or into a warm transfer's room, the room's comings and goings, and the calls rung
into it. Whatever fails, the caller goes on: the safe answers below need no Redis."""

from __future__ import annotations

from ivr.context import Ivr
from ivr.forms import DialForm, RoomEventForm, StatusForm, TwilioForm
from ivr.safety import safe_route
from ivr.states import InRoom, SentOn
from prompts.catalogue import Locale, PromptId
from routing import onward
from routing.connecting import spoken_case_id
from routing.decisions import Decision, Goodbye, Nothing, Room, Spoken, say
from routing.dispatch_line import dispatch_dial
from routing.models import case_id_for
from routing.placing import NoPlacement
from routing.transfers import room_of


def handler_sent_on(ivr: Ivr, state: SentOn) -> Decision:
    """The handler's leg, moved off a call they sent on: told so and hung up (their caller is
    on their way on their own leg); or, warm, into the room with the caller."""
    if state.warm and state.call:
        return Room(
            locale=Locale.EN,
            say=say(PromptId.INTRODUCE_CASE),
            room=room_of(state.call),
            who="handler",
            call=state.call,
            handler=state.handler,
        )
    prompt = PromptId.SENT_ON_DISPATCH if state.to == "dispatch" else PromptId.SENT_ON_CLINICIAN
    return Goodbye(locale=Locale.EN, say=say(prompt))


async def handler_leg(ivr: Ivr, form: TwilioForm, state: SentOn) -> Decision:
    return handler_sent_on(ivr, state)


async def handler_left(ivr: Ivr, form: DialForm, state: InRoom) -> Decision:
    return await onward.handler_left(ivr.floor, state.call, state.handler)


def left(ivr: Ivr, state: InRoom) -> Decision:
    return Goodbye(locale=Locale.EN, say=say(PromptId.LEFT_ROOM))


async def room_event(ivr: Ivr, form: RoomEventForm, state: InRoom) -> Decision:
    """The room's status callback: the handler leaving is handled as their Dial's action is."""
    if form.event == "participant-leave" and form.label == "handler":
        sent = await ivr.floor.transfers.sent(state.call)
        if sent is not None:
            await onward.handler_left(ivr.floor, state.call, sent.by)
    return Nothing()


async def room_exit(ivr: Ivr, form: DialForm, state: InRoom) -> Decision:
    return await onward.room_exit(ivr.floor, state.call or form.call_sid, state.who)


def room_exit_safely(ivr: Ivr, state: InRoom) -> Decision:
    return safe_route(ivr, state) if state.who == "caller" else Nothing()


async def to_queue(ivr: Ivr, form: TwilioForm, state: InRoom) -> Decision:
    try:
        return await onward.back_to_queue(ivr.floor, form.call_sid)
    except NoPlacement:
        return safe_route(ivr, state)


async def to_dispatch(ivr: Ivr, form: TwilioForm, state: InRoom) -> Decision:
    return await onward.to_dispatch(ivr.floor, form.call_sid)


def dispatch_now(ivr: Ivr, state: InRoom) -> Decision:
    """Without Redis: the dispatch line all the same (the case id from the CallSid)."""
    return dispatch_dial(ivr.settings.ambulance_dispatch_number, state.language, state.call)


async def clinician_status(ivr: Ivr, form: StatusForm, state: InRoom) -> Decision:
    return await onward.clinician_status(
        ivr.floor, state.call, state.handler, state.offer, form.call_status, form.call_sid
    )


async def dispatcher(ivr: Ivr, form: TwilioForm, state: InRoom) -> Decision:
    return await onward.dispatcher_answered(ivr.floor, state.call)


def dispatcher_safely(ivr: Ivr, state: InRoom) -> Decision:
    """Without Redis: the case id, and into the room, where the caller most likely waits."""
    spoken = (
        Spoken.of(PromptId.DISPATCH_WHISPER, case_id=spoken_case_id(case_id_for(state.call))),
    )
    return Room(
        locale=Locale.EN,
        say=spoken,
        room=room_of(state.call),
        who="dispatcher",
        call=state.call,
        end_on_exit=True,
    )


async def dispatcher_status(ivr: Ivr, form: StatusForm, state: InRoom) -> Decision:
    return await onward.dispatcher_status(ivr.floor, state.call, form.call_status)
