"""The calls Lifeline places to call patients back: each leg's request passed to
routing.callback_legs with the leg its URL names."""

from __future__ import annotations

from ivr.context import Ivr
from ivr.forms import AnsweredForm, DialForm, StatusForm
from ivr.states import CallbackLeg
from routing import callback_legs
from routing.callback_legs import Leg
from routing.decisions import Decision


def leg_of(state: CallbackLeg) -> Leg:
    return Leg(cb=state.cb, handler=state.handler, offer=state.offer, leg=state.leg)


async def answer(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The first leg answered: the handler, or the patient."""
    return await callback_legs.answer(ivr.floor, leg_of(state), form.call_sid, form.answered_by)


async def greet(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The patient answered the handler's dial."""
    return await callback_legs.greet(ivr.floor, leg_of(state), form.answered_by)


async def whisper(ivr: Ivr, form: AnsweredForm, state: CallbackLeg) -> Decision:
    """The handler answered, the patient already on the line (patient first)."""
    return await callback_legs.whisper(ivr.floor, leg_of(state))


async def result(ivr: Ivr, form: DialForm, state: CallbackLeg) -> Decision:
    """The first leg's dial to the other party is over."""
    return await callback_legs.result(
        ivr.floor,
        leg_of(state),
        form.dial_status,
        form.bridged,
        form.call_status,
        form.call_sid,
    )


async def status(ivr: Ivr, form: StatusForm, state: CallbackLeg) -> Decision:
    """Status callbacks of the first leg."""
    return await callback_legs.status(ivr.floor, leg_of(state), form.call_sid, form.call_status)
