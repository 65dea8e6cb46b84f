"""A case as Lifeline sends it to the clinical system, and the appointments it books: the
domain's records, which the webhooks, the consoles and the jobs build and pass whole
(workers/fhir.py turns a case into FHIR); and the facts of a handler's case, from its record."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from prompts.catalogue import Locale
from routing import keys
from routing.callbacks import Callbacks, UnknownCallback
from routing.calls import Calls
from routing.models import CallRecord, Priority, Reason

CaseId = Annotated[str, Field(pattern=r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")]
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
E164OrWithheld = Annotated[str, Field(pattern=rf"^({E164.pattern})?$")]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda moment: moment.astimezone(UTC))]
# A literal reference to a Slot of the clinical system, as its search answered it.
SlotReference = Annotated[str, Field(pattern=r"^Slot/[A-Za-z0-9\-.]{1,64}$")]
LONDON = ZoneInfo("Europe/London")
DEGRADED = "bookings are not offered while the clinical system is down"


class CaseKind(StrEnum):
    REFERRAL = "referral"
    BOOKING = "booking"
    AMBULANCE = "ambulance"


class ServiceType(StrEnum):
    """The kind of appointment a case needs: a Slot's `serviceType` in the clinical system."""

    URGENT_CARE = "urgent-care"
    MENTAL_HEALTH = "mental-health"
    DENTAL = "dental"


# Which appointments a caller is offered, by the reason they gave (the one place this is decided:
# queue names are the supervisors' to change, reasons are the IVR's menu).
SERVICE_TYPES: dict[Reason, ServiceType] = {
    Reason.MEDICAL: ServiceType.URGENT_CARE,
    Reason.MENTAL_HEALTH: ServiceType.MENTAL_HEALTH,
    Reason.DENTAL: ServiceType.DENTAL,
    Reason.MEDICINES: ServiceType.URGENT_CARE,
    Reason.EXISTING_CASE: ServiceType.URGENT_CARE,
    Reason.UNKNOWN: ServiceType.URGENT_CARE,
}


class Request(StrEnum):
    """Which of a case's requests a bundle is: the case as it was opened (on the call, or when a
    callback was booked), or the handler's wrap-up with their outcome and notes."""

    OPENED = "opened"
    WRAP_UP = "wrap-up"


class BookedSlot(BaseModel):
    """A Slot of the clinical system and its start and end: one a search found free, then the
    appointment a booking made (a booked Appointment must have both, FHIR invariant app-3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: SlotReference
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> BookedSlot:
        if self.end <= self.start:
            raise ValueError("a slot ends after it starts")
        return self


def label(slot: BookedSlot) -> str:
    """`Mon 5 Jan, 09:30 to 09:45`, London time."""
    start, end = slot.start.astimezone(LONDON), slot.end.astimezone(LONDON)
    return f"{start:%a} {start.day} {start:%b}, {start:%H:%M} to {end:%H:%M}"


class ClinicalCase(BaseModel):
    """What one case sends to the clinical system. The Bundle's identifier is the request id:
    the case id for the case as opened, `<case id>/wrap-up` for the wrap-up; each resource's is
    `<case id>/opened` or `<case id>/wrap-up` (the booking's Patient `<case id>/booking`). So a
    replay of either is recognised and neither is mistaken for the other. A booking carries the
    slot the handler booked."""

    # Inputs are hidden from validation errors: they carry the caller's number.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    case_id: CaseId
    kind: CaseKind
    created: UtcDatetime
    caller_number: E164OrWithheld
    locale: Locale
    reason: Reason
    priority: Priority
    handler_notes: str = ""
    contingency: bool = False
    appointment: BookedSlot | None = None
    request: Request = Request.OPENED
    # A wrap-up corrected before the handler moved on is a request of its own (`wrap-up-2`, ...):
    # the same identifiers would have it found as the first, and dropped.
    wrap_up_number: int = Field(default=1, ge=1)

    @property
    def request_id(self) -> str:
        """The Bundle's identifier (BaRS's request id)."""
        if self.request is Request.OPENED:
            return self.case_id
        return self.resource_id

    @property
    def resource_id(self) -> str:
        """The value of each resource's business identifier."""
        if self.wrap_up_number > 1:
            return f"{self.case_id}/{self.request.value}-{self.wrap_up_number}"
        return f"{self.case_id}/{self.request.value}"

    @model_validator(mode="before")
    @classmethod
    def _queued_before_slots(cls, data: Any) -> Any:
        # Jobs enqueued before a booking carried its slot say `"appointment_start": null`.
        if isinstance(data, dict) and "appointment_start" in data and not data["appointment_start"]:
            return {key: value for key, value in data.items() if key != "appointment_start"}
        return data

    @model_validator(mode="after")
    def _appointment_for_bookings_only(self) -> ClinicalCase:
        if self.appointment is not None and self.kind is not CaseKind.BOOKING:
            raise ValueError("only a booking has an appointment")
        if self.appointment is None and self.kind is CaseKind.BOOKING:
            raise ValueError("a booking needs the slot it booked (appointment)")
        if self.wrap_up_number > 1 and self.request is not Request.WRAP_UP:
            raise ValueError("only a wrap-up is numbered")
        return self


def opened(
    record: CallRecord,
    kind: CaseKind,
    number: str,
    priority: Priority | None = None,
    notes: str = "",
) -> ClinicalCase:
    """The case a call opens (an ambulance sent for, a callback booked), as the call's record
    has it; `number` the one to call back on, `priority` if not the caller's place in the queue."""
    placement = record.placement
    if not E164.fullmatch(number):
        # Not a number the clinical system takes (a caller ID of a few digits, say): the case
        # goes without one rather than not at all.
        number = ""
    return ClinicalCase(
        case_id=record.case_id,
        kind=kind,
        created=datetime.fromtimestamp(record.created, UTC),
        caller_number=number,
        locale=record.locale,
        reason=record.answers.reason or Reason.UNKNOWN,
        priority=priority or (placement.priority if placement else Priority.STANDARD),
        handler_notes=notes,
    )


class CaseGone(Exception):
    """The record of the call or callback a handler has expired: its case cannot be told."""


class CaseFacts(BaseModel):
    """The facts of a handler's case that the clinical system is told, from the call's record or
    the callback's: for its wrap-up, and for an appointment booked while the caller is on the
    line."""

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


async def case_facts(calls: Calls, callbacks: Callbacks, member: str) -> CaseFacts:
    """The case of the queue member a handler has (a CallSid, or `cb:<callback id>`); CaseGone
    if its record has expired."""
    if keys.is_callback(member):
        try:
            callback = await callbacks.get(keys.callback_id(member))
        except UnknownCallback:
            raise CaseGone("the callback's record has expired") from None
        original = await calls.get(callback.call_sid) if callback.call_sid else None
        return CaseFacts(
            case_id=callback.case_id,
            caller=callback.number,
            locale=callback.locale,
            reason=Reason.EXISTING_CASE.value,
            need=(original.answers.reason if original else None) or Reason.EXISTING_CASE,
            priority=int(callback.priority),
            created=callback.created,
        )
    call = await calls.get(member)
    if call is None:
        raise CaseGone("the call's record has expired")
    return CaseFacts(
        case_id=call.case_id,
        caller=call.caller,
        locale=call.locale.value,
        reason=str(call.answers.reason or Reason.UNKNOWN.value),
        need=call.answers.reason or Reason.UNKNOWN,
        priority=int(call.placement.priority) if call.placement else 3,
        created=call.created,
    )
