"""What a handler sees of the call offered to them: priority, reason, language, how long the
caller waited, whether they called before, their callback and its history, and, for a caller a
handler sent on or a clinician's callback, who asked, how urgently and their notes."""

from __future__ import annotations

from pydantic import BaseModel

from console.web.urgency import label
from prompts.catalogue import Locale
from routing import keys
from routing.callbacks import Callback, HistoryEntry, UnknownCallback
from routing.floor import Floor
from routing.handlers import Handler, HandlerState
from routing.models import CallRecord, Reason, Screen, mask
from routing.rules import OnwardRule
from routing.transfers import Onward, Transfer

REASONS = {
    Reason.MEDICAL: "A medical problem",
    Reason.MENTAL_HEALTH: "Mental health",
    Reason.DENTAL: "A dental problem",
    Reason.MEDICINES: "Medicines",
    Reason.EXISTING_CASE: "An existing case",
    Reason.UNKNOWN: "Not given",
}
LANGUAGES = {Locale.EN: "English", Locale.CY: "Welsh (Cymraeg)"}
CALLBACK_CHOICES = {
    "keep": "kept their callback",
    "worse": "said the symptoms are worse",
    "cancel": "cancelled their callback",
    "unanswered": "did not say what to do with their callback",
}
WITH_A_CALL = (HandlerState.RESERVED, HandlerState.BUSY, HandlerState.WRAP_UP)


class CallbackSummary(BaseModel):
    id: str
    status: str
    priority: int
    booked: float
    attempts: int
    due_by: float | None
    history: list[HistoryEntry]
    # A clinician's callback: the handler who asked, the urgency (named with its target) and
    # their notes for the clinician.
    asked_by: str = ""
    urgency: str = ""
    notes: str = ""


class SentOn(BaseModel):
    """A handler's decision to send this caller on: who, when, where to, and what they said."""

    by: str
    at: float
    to: Onward
    urgency: str  # named with its target; "" to the ambulance service
    notes: str


class Case(BaseModel):
    member: str
    kind: str  # "call" or "callback"
    case_id: str
    caller: str  # masked: the last three digits
    priority: int | None
    reason: str
    language: str
    queue: str
    waited: float | None  # from joining the queue to being offered to this handler
    repeat: bool
    emergency: bool
    callback_choice: str
    callback: CallbackSummary | None
    sent_on: SentOn | None = None


def language(code: str) -> str:
    try:
        return LANGUAGES[Locale(code)]
    except ValueError:
        return code


def summary(callback: Callback, history: list[HistoryEntry], onward: OnwardRule) -> CallbackSummary:
    return CallbackSummary(
        id=callback.id,
        status=callback.status.value,
        priority=int(callback.priority),
        booked=callback.created,
        attempts=callback.attempts,
        due_by=callback.due_by,
        history=history,
        asked_by=callback.asked_by,
        urgency=label(onward, callback.urgency) if callback.urgency else "",
        notes=callback.notes,
    )


def sent_on(transfer: Transfer, onward: OnwardRule) -> SentOn:
    return SentOn(
        by=transfer.by,
        at=transfer.at,
        to=transfer.to,
        urgency=label(onward, transfer.urgency) if transfer.to is Onward.CLINICIAN else "",
        notes=transfer.notes,
    )


async def case_for(floor: Floor, handler: Handler) -> Case | None:
    """The call or callback the handler has now, or None."""
    if handler.state not in WITH_A_CALL or not handler.call:
        return None
    offered = await floor.redis.hget(keys.handler(handler.profile.id), "last_offer")
    offered_at = float(offered) if offered else handler.since
    onward = (await floor.rulebook.active()).onward
    if keys.is_callback(handler.call):
        return await callback_case(floor, handler.call, offered_at, onward)
    record = await floor.calls.get(handler.call)
    if record is None:
        return None
    return await call_case(floor, record, offered_at, onward)


async def call_case(
    floor: Floor, record: CallRecord, offered_at: float, onward: OnwardRule
) -> Case:
    answers = record.answers
    callbacks = floor.callbacks
    live = await callbacks.live_for(record.caller)
    callback = summary(live, await callbacks.history(live.id), onward) if live else None
    transfer = await floor.transfers.sent(record.sid)
    return Case(
        member=record.sid,
        kind="call",
        case_id=record.case_id,
        caller=mask(record.caller) if record.caller else "withheld",
        priority=int(record.placement.priority) if record.placement else None,
        reason=REASONS[answers.reason or Reason.UNKNOWN],
        language=language(answers.locale or record.locale),
        queue=record.placement.queue if record.placement else "",
        waited=offered_at - record.arrival if record.arrival else None,
        repeat=answers.repeat,
        emergency=answers.screen is Screen.YES,
        callback_choice=CALLBACK_CHOICES.get(answers.callback_choice or "", ""),
        callback=callback,
        sent_on=sent_on(transfer, onward) if transfer else None,
    )


async def callback_case(
    floor: Floor, member: str, offered_at: float, onward: OnwardRule
) -> Case | None:
    callbacks = floor.callbacks
    try:
        callback = await callbacks.get(keys.callback_id(member))
    except UnknownCallback:
        return None
    original = await floor.calls.get(callback.call_sid) if callback.call_sid else None
    reason = original.answers.reason if original else None
    return Case(
        member=member,
        kind="callback",
        case_id=callback.case_id,
        caller=mask(callback.number),
        priority=int(callback.priority),
        reason=REASONS[reason or Reason.UNKNOWN],
        language=language(callback.locale),
        queue=callback.queue,
        waited=offered_at - callback.arrival,
        repeat=bool(original and original.answers.repeat),
        emergency=False,
        callback_choice="",
        callback=summary(callback, await callbacks.history(callback.id), onward),
    )
