"""API: a handler sends the caller they are on a call with onward, to the ambulance dispatch line
or to a clinician (routing.onward)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from console.api_floor import own
from console.bodies import Body
from console.endpoints import ApiRequest
from console.errors import Conflict
from routing.onward import SendOnRefused, send_on
from routing.transfers import NOTES_MAX, Onward, Transfer


class SendOn(Body):
    to: Onward
    urgency: Annotated[str, Field(max_length=32)] = ""  # for a clinician: one of the rule set's
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""  # for whoever takes the caller next


class SentOn(BaseModel):
    handler: str
    to: Onward
    urgency: str
    at: float


async def handler_send_on(api: ApiRequest) -> SentOn:
    handler_id = own(api)
    body: SendOn = api.body
    try:
        asked = await send_on(
            api.floor, handler_id, Transfer(to=body.to, urgency=body.urgency, notes=body.notes)
        )
    except SendOnRefused as refused:
        raise Conflict(str(refused)) from None
    return SentOn(handler=handler_id, to=asked.to, urgency=asked.urgency, at=asked.at)
