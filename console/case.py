"""The facts of a handler's case that the clinical system is told, from the call's record or the
callback's: for its wrap-up, and for an appointment booked while the caller is on the line."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from console.context import Console
from console.errors import Conflict
from routing import keys
from routing.callbacks import UnknownCallback
from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from routing.models import Reason


class CaseFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    caller: str
    locale: str
    reason: str  # as the clinical system is told it (a callback is about an existing case)
    need: Reason  # what the caller rang about: the service an appointment is for
    priority: int
    created: float

    def wrap_up(
        self,
        kind: CaseKind,
        notes: str = "",
        appointment: BookedSlot | None = None,
        number: int = 1,
    ) -> ClinicalCase:
        """The case a handler's wrap-up sends: a request of its own (the case as opened may have
        been sent already), the `number`th of the call's wrap-ups."""
        return ClinicalCase(
            case_id=self.case_id,
            kind=kind,
            created=datetime.fromtimestamp(self.created, UTC),
            caller_number=self.caller,
            locale=self.locale,
            reason=self.reason,
            priority=self.priority,
            handler_notes=notes,
            request=Request.WRAP_UP,
            appointment=appointment,
            wrap_up_number=number,
        )


async def case_facts(console: Console, member: str) -> CaseFacts:
    """The case of the queue member a handler has (a CallSid, or `cb:<callback id>`)."""
    if keys.is_callback(member):
        try:
            callback = await console.callbacks.get(keys.callback_id(member))
        except UnknownCallback:
            raise Conflict("the callback's record has expired") from None
        original = await console.calls.get(callback.call_sid) if callback.call_sid else None
        return CaseFacts(
            case_id=callback.case_id,
            caller=callback.number,
            locale=callback.locale,
            reason=Reason.EXISTING_CASE.value,
            need=(original.answers.reason if original else None) or Reason.EXISTING_CASE,
            priority=int(callback.priority),
            created=callback.created,
        )
    call = await console.calls.get(member)
    if call is None:
        raise Conflict("the call's record has expired")
    return CaseFacts(
        case_id=call.case_id,
        caller=call.caller,
        locale=call.locale.value,
        reason=str(call.answers.reason or Reason.UNKNOWN.value),
        need=call.answers.reason or Reason.UNKNOWN,
        priority=int(call.placement.priority) if call.placement else 3,
        created=call.created,
    )
