"""The onward part of the handler's call: sending the caller on (to the ambulance service, or to a
clinician at an urgency of the rule set's) and arranging a clinician's callback, with what was
done already. routing/onward.py does both; console/web/handler_console.py has the forms' actions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from console.web.casefile import Case
from console.web.templates import hhmm
from console.web.urgency import label, labels
from routing.callbacks import CLINICIAN_SUFFIX, Callback, Callbacks, UnknownCallback
from routing.handlers import Handler, HandlerState
from routing.rules import OnwardRule
from routing.transfers import NOTES_MAX, Onward, Transfer

SEND_ON = "send-on"  # the forms' names: their fields' errors and values are kept under these
CLINICIAN = "clinician"
ARRANGEABLE = (HandlerState.BUSY, HandlerState.WRAP_UP)
NO_URGENCY = "Choose how soon a clinician must speak to the patient."


class SendOnForm(BaseModel):
    to: Onward
    urgency: Annotated[str, Field(max_length=32, validate_default=True)] = ""
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""
    warm: bool = False

    @field_validator("urgency")
    @classmethod
    def _a_clinician_needs_one(cls, urgency: str, info: ValidationInfo) -> str:
        if info.data.get("to") is Onward.CLINICIAN and not urgency:
            raise ValueError(NO_URGENCY)
        return urgency

    def transfer(self) -> Transfer:
        if self.to is Onward.DISPATCH:  # an urgency would start a clinician's clock
            return Transfer(to=self.to, notes=self.notes)
        return Transfer(to=self.to, urgency=self.urgency, notes=self.notes, warm=self.warm)


class ClinicianCallbackForm(BaseModel):
    urgency: Annotated[str, Field(max_length=32, validate_default=True)] = ""
    notes: Annotated[str, Field(max_length=NOTES_MAX)] = ""
    number: Annotated[str, Field(max_length=20)] = ""  # a UK phone, if not the caller's own

    @field_validator("urgency")
    @classmethod
    def _chosen(cls, urgency: str) -> str:
        if not urgency:
            raise ValueError(NO_URGENCY)
        return urgency


def under(form: str, values: dict[str, str]) -> dict[str, str]:
    """A form's errors or values as the page keeps them: `send-on-notes`; the form as a whole
    (a refusal) as `send-on`."""
    return {f"{form}-{name}" if name else form: value for name, value in values.items()}


def sent(onward: OnwardRule, transfer: Transfer) -> str:
    """What the handler is told once the caller is on their way (`transfer` as asked: warm to
    the dispatch line if the rule set says so)."""
    if transfer.to is Onward.DISPATCH:
        where, joins = "the ambulance service", "the dispatcher answers"
    else:
        where, joins = f"a clinician, {label(onward, transfer.urgency)}", "a clinician joins"
    if transfer.warm:
        return (
            f"The caller is on their way to {where}; stay on to introduce the case when "
            f"{joins}, then hang up and wrap up."
        )
    return f"The caller is on their way to {where}; wrap up when your call ends."


def arranged(onward: OnwardRule, callback: Callback) -> str:
    return (
        f"Clinician callback {callback.id} arranged, {label(onward, callback.urgency)}, "
        f"due by {hhmm(callback.due_by)}."
    )


async def clinician_callback(callbacks: Callbacks, case: Case) -> Callback | None:
    """The clinician's callback arranged for this call, if there is one."""
    try:
        return await callbacks.get(f"{case.case_id}{CLINICIAN_SUFFIX}")
    except UnknownCallback:
        return None


async def onward_context(
    callbacks: Callbacks, onward: OnwardRule, handler: Handler, case: Case | None
) -> dict[str, Any]:
    """What the onward part of the handler's call shows: the forms while they may be used, and
    the clinician's callback once made."""
    call = case if case is not None and case.kind == "call" else None
    made = await clinician_callback(callbacks, call) if call else None
    return {
        "can_send_on": call is not None
        and handler.state is HandlerState.BUSY
        and call.sent_on is None,
        "can_arrange": call is not None
        and handler.state in ARRANGEABLE
        and call.sent_on is None
        and made is None,
        "clinician_callback": made,
        "clinician_callback_said": arranged(onward, made) if made else "",
        "clinicians": onward.clinician_queue is not None,
        "urgencies": labels(onward),
    }
