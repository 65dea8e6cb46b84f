"""Connecting a reserved caller to their handler (the connect job redirects the call here): the
request's offer to routing.putting_through; a call with no placement takes the safe route."""

from __future__ import annotations

from ivr.context import Ivr
from ivr.forms import DialForm, TwilioForm
from ivr.safety import safe_route
from ivr.states import Offered, Whispered
from routing import putting_through
from routing.decisions import Decision
from routing.placing import NoPlacement


async def connect(ivr: Ivr, form: TwilioForm, state: Offered) -> Decision:
    try:
        return await putting_through.connect(ivr.floor, form.call_sid, state.handler, state.offer)
    except NoPlacement:
        return safe_route(ivr, state)


async def whisper(ivr: Ivr, form: TwilioForm, state: Whispered) -> Decision:
    """The handler answered (this request is on their leg)."""
    return await putting_through.handler_answered(
        ivr.floor, state.call, state.handler, state.offer, leg=form.call_sid
    )


async def connect_result(ivr: Ivr, form: DialForm, state: Offered) -> Decision:
    try:
        return await putting_through.dial_ended(
            ivr.floor,
            form.call_sid,
            state.handler,
            state.offer,
            form.dial_status,
            form.bridged,
            form.call_status,
        )
    except NoPlacement:
        return safe_route(ivr, state)
