"""API: a handler sends the caller they are on a call with onward, to the ambulance dispatch line
or to a clinician (routing.onward), or arranges a clinician's callback for them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from console.api_floor import own
from console.bodies import Body
from console.endpoints import ApiRequest
from console.errors import Conflict, Invalid
from routing.clinician_clock import ClinicianDay, clinician_day
from routing.figures import local_midnight
from routing.onward import SendOnRefused, arrange_clinician_callback, send_on
from routing.transfers import NOTES_MAX, Onward, Transfer


class SendOn(Body):
    to: Onward
    urgency: Annotated[str, Field(max_length=32)] = ""  # for a clinician: one of the rule set's
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""  # for whoever takes the caller next
    warm: bool = False  # to a clinician: stay on to introduce the case, then leave


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
            api.floor,
            handler_id,
            Transfer(to=body.to, urgency=body.urgency, notes=body.notes, warm=body.warm),
        )
    except SendOnRefused as refused:
        raise Conflict(str(refused)) from None
    return SentOn(handler=handler_id, to=asked.to, urgency=asked.urgency, at=asked.at)


class ClinicianCallbackAsk(Body):
    urgency: Annotated[str, Field(min_length=1, max_length=32)]
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""  # for the clinician who calls
    number: Annotated[str, Field(max_length=20)] = ""  # a UK phone, if not the caller's own


class ClinicianCallbackMade(BaseModel):
    callback: str
    case_id: str
    urgency: str
    queue: str
    priority: int
    due_by: float | None


async def handler_clinician_callback(api: ApiRequest) -> ClinicianCallbackMade:
    handler_id = own(api)
    body: ClinicianCallbackAsk = api.body
    try:
        made = await arrange_clinician_callback(
            api.floor, handler_id, body.urgency, body.notes, body.number
        )
    except SendOnRefused as refused:
        raise Conflict(str(refused)) from None
    return ClinicianCallbackMade(
        callback=made.id,
        case_id=made.case_id,
        urgency=made.urgency,
        queue=made.queue,
        priority=int(made.priority),
        due_by=made.due_by,
    )


async def clinician_statistics(api: ApiRequest) -> ClinicianDay:
    """Today's (or yesterday's) share of "immediate" requests for a clinician met within the
    target, for the day and each hour (routing.clinician_clock has the definition)."""
    day = api.query.get("day", "today")
    if day not in ("today", "yesterday"):
        raise Invalid("day must be today or yesterday (the statistics are kept two days)")
    now = api.floor.clock.now()
    midnight = local_midnight(now)
    start = local_midnight(midnight - 1) if day == "yesterday" else midnight
    # Yesterday's requests still open at midnight are judged now: missed once past the target.
    return await clinician_day(api.floor.redis, start, now)
