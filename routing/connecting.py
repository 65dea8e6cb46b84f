"""Putting a reserved caller through to their handler: what each side hears."""

from __future__ import annotations

import math

from config.number_policy import outside_policy
from prompts.catalogue import Locale, PromptId
from routing.decisions import Connect, Spoken, Whisper, say
from routing.handlers import Handler
from routing.hold import emergency_deadline
from routing.models import CallRecord, Priority, Reason
from routing.rules import RuleSet

REASON_PROMPTS = {
    Reason.MEDICAL: PromptId.REASON_MEDICAL,
    Reason.MENTAL_HEALTH: PromptId.REASON_MENTAL_HEALTH,
    Reason.DENTAL: PromptId.REASON_DENTAL,
    Reason.MEDICINES: PromptId.REASON_MEDICINES,
    Reason.EXISTING_CASE: PromptId.REASON_EXISTING_CASE,
    Reason.UNKNOWN: PromptId.REASON_UNKNOWN,
}


MIN_RING_SECONDS = 5  # Twilio's least useful ring time; an emergency past it is dispatched


def ring_seconds(record: CallRecord, rules: RuleSet, now: float) -> int:
    """How long the handler's phone rings: the rule's offer timeout, and for an emergency no
    longer than what is left of its limit (then the dial's outcome sends it to dispatch)."""
    timeout = rules.offers.offer_timeout_seconds
    if record.placement is not None and record.placement.priority is Priority.EMERGENCY:
        left = math.ceil(emergency_deadline(record, rules) - now)
        timeout = max(MIN_RING_SECONDS, min(timeout, left))
    return timeout


def connect(
    record: CallRecord, handler: Handler, offer: int, rules: RuleSet, now: float
) -> Connect:
    return Connect(
        locale=record.locale,
        say=say(PromptId.CONNECTING),
        member=record.sid,
        handler=handler.profile.id,
        offer=offer,
        device_kind=handler.profile.device.kind,
        address=handler.profile.device.address,
        timeout_seconds=ring_seconds(record, rules, now),
        priority=record.placement.priority if record.placement else Priority.STANDARD,
    )


def phone_refused(handler: Handler, exceptions: frozenset[str]) -> str | None:
    """Why the number policy refuses the handler's phone, or None (a browser client, or a
    number within it). Checked when it is dialled: a profile kept from before the policy was
    never checked when it was saved."""
    device = handler.profile.device
    return outside_policy(device.address, exceptions) if device.kind == "number" else None


def whisper(record: CallRecord) -> Whisper:
    """Priority, reason, language and repeat caller, for the handler before the caller."""
    priority = record.placement.priority if record.placement else Priority.STANDARD
    reason = record.answers.reason or Reason.UNKNOWN
    spoken = [Spoken.of(PromptId.WHISPER_CALL, priority=int(priority))]
    if record.answers.screen is not None and priority is not Priority.EMERGENCY:
        spoken.append(Spoken(prompt=REASON_PROMPTS[reason]))
    if record.locale is Locale.CY:
        spoken.append(Spoken(prompt=PromptId.WHISPER_WELSH))
    if record.answers.repeat:
        spoken.append(Spoken(prompt=PromptId.WHISPER_REPEAT))
    return Whisper(say=tuple(spoken), accept=True)


def taken() -> Whisper:
    return Whisper(say=say(PromptId.WHISPER_TAKEN), accept=False)


def spoken_case_id(case_id: str) -> str:
    """A case id as text-to-speech should read it: one character at a time."""
    return " ".join(case_id.replace("-", ""))


def callback_whisper(
    case_id: str, priority: Priority, reason: Reason | None, patient_waiting: bool = False
) -> tuple[Spoken, ...]:
    """The case for the handler, before the patient is rung or, patient first, while they wait."""
    prompt = (
        PromptId.CALLBACK_WHISPER_PATIENT_WAITING if patient_waiting else PromptId.CALLBACK_WHISPER
    )
    spoken = [Spoken.of(prompt, case_id=spoken_case_id(case_id), priority=int(priority))]
    if reason is not None:
        spoken.append(Spoken(prompt=REASON_PROMPTS[reason]))
    return tuple(spoken)
