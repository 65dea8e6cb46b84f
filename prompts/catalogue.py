"""The voice prompt catalogue: prompt ids, one data file per locale, and start-up checks."""

from __future__ import annotations

import string
from enum import StrEnum
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Locale(StrEnum):
    EN = "en-GB"
    CY = "cy-GB"


class PromptId(StrEnum):
    LANGUAGE_CHOICE = "language_choice"
    WELCOME = "welcome"
    EMERGENCY_SCREEN = "emergency_screen"
    REASON_MENU = "reason_menu"
    WORSE_QUESTION = "worse_question"
    NOT_HEARD = "not_heard"
    NOT_UNDERSTOOD = "not_understood"
    ROUTING_ON = "routing_on"
    EMERGENCY_CONNECTING = "emergency_connecting"
    AMBULANCE_CONNECTING = "ambulance_connecting"
    EMERGENCY_STAY = "emergency_stay"  # again and again while a priority-1 caller waits
    QUEUED = "queued"
    POSITION = "position"
    WAIT_ESTIMATE = "wait_estimate"
    WAIT_ONE_MINUTE = "wait_one_minute"
    WAIT_UNDER_MINUTE = "wait_under_minute"
    WAIT_UNKNOWN = "wait_unknown"
    SAFETY_NET = "safety_net"
    CALLBACK_OFFER = "callback_offer"
    CALLBACK_CONFIRM_NUMBER = "callback_confirm_number"
    CALLBACK_ENTER_NUMBER = "callback_enter_number"
    CALLBACK_READBACK = "callback_readback"
    CALLBACK_BOOKED = "callback_booked"
    CALLBACK_FAILED = "callback_failed"
    CALLBACK_NUMBER_TAKEN = "callback_number_taken"
    STILL_QUEUED = "still_queued"
    HOLD_ON = "hold_on"
    TECHNICAL_DIFFICULTY = "technical_difficulty"
    SYSTEM_PROBLEM = "system_problem"
    SYSTEM_PROBLEM_HELP = "system_problem_help"
    FALLBACK_LINE = "fallback_line"
    FALLBACK_LINE_FAILED = "fallback_line_failed"
    CONNECTING = "connecting"
    HANDLER_UNAVAILABLE = "handler_unavailable"
    WHISPER_CALL = "whisper_call"
    WHISPER_WELSH = "whisper_welsh"
    WHISPER_REPEAT = "whisper_repeat"
    WHISPER_TAKEN = "whisper_taken"
    REASON_MEDICAL = "reason_medical"
    REASON_MENTAL_HEALTH = "reason_mental_health"
    REASON_DENTAL = "reason_dental"
    REASON_MEDICINES = "reason_medicines"
    REASON_EXISTING_CASE = "reason_existing_case"
    REASON_UNKNOWN = "reason_unknown"
    CALLBACK_WHISPER = "callback_whisper"
    CALLBACK_WHISPER_PATIENT_WAITING = "callback_whisper_patient_waiting"
    CALLBACK_GREETING = "callback_greeting"
    CALLBACK_NOT_REACHED = "callback_not_reached"
    CALLBACK_HANDLER_BUSY = "callback_handler_busy"
    CALLBACK_EXISTING = "callback_existing"
    CALLBACK_KEPT = "callback_kept"
    CALLBACK_RAISED = "callback_raised"
    CALLBACK_CANCELLED = "callback_cancelled"
    OUTAGE_MESSAGE = "outage_message"  # the supervisor's own words, whatever they are
    DISPATCH_WHISPER = "dispatch_whisper"
    SENT_TO_CLINICIAN = "sent_to_clinician"  # a caller a handler sent on to a clinician
    SENT_ON_DISPATCH = "sent_on_dispatch"  # the handler, once their caller is sent on
    SENT_ON_CLINICIAN = "sent_on_clinician"
    INTRODUCE_CASE = "introduce_case"  # the handler, into a warm transfer's room
    LEFT_ROOM = "left_room"  # the handler, out of it
    PUT_THROUGH_ELSEWHERE = "put_through_elsewhere"  # a dispatcher's leg no longer needed
    RECORDING_NOTICE = "recording_notice"  # after the emergency screen, never before it
    FEEDBACK_QUESTION = "feedback_question"  # the Friends and Family Test, after a handled call
    FEEDBACK_THANKS = "feedback_thanks"
    FEEDBACK_GOODBYE = "feedback_goodbye"  # no answer, or none we could use


class CatalogueError(Exception):
    """The catalogue is incomplete or inconsistent; the message lists every problem."""


class LocalePrompts(BaseModel):
    """One locale's file: its voice, whether speech input works, and every prompt's text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    locale: Locale
    voice: Annotated[str, Field(min_length=1)]
    language: Annotated[str, Field(min_length=2)]
    speech_recognition: bool
    prompts: dict[str, Annotated[str, Field(min_length=1)]]


def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


class Catalogue:
    def __init__(self, locales: dict[Locale, LocalePrompts]) -> None:
        problems = check(locales)
        if problems:
            raise CatalogueError("; ".join(problems))
        self._locales = locales

    def voice(self, locale: Locale) -> LocalePrompts:
        return self._locales[locale]

    def text(self, locale: Locale, prompt: PromptId, **values: object) -> str:
        template = self._locales[locale].prompts[prompt]
        return template.format(**values) if values else template


def check(locales: dict[Locale, LocalePrompts]) -> list[str]:
    """Every locale has every prompt id, no unknown ids, and the same placeholders as English."""
    problems = [f"locale {locale} has no prompt file" for locale in Locale if locale not in locales]
    known = {prompt.value for prompt in PromptId}
    for locale, entry in locales.items():
        if entry.locale != locale:
            problems.append(f"file for {locale} says it is {entry.locale}")
        missing = sorted(known - entry.prompts.keys())
        unknown = sorted(entry.prompts.keys() - known)
        if missing:
            problems.append(f"{locale} is missing prompts: {', '.join(missing)}")
        if unknown:
            problems.append(f"{locale} has prompts no code uses: {', '.join(unknown)}")
    english = locales.get(Locale.EN)
    if english is not None:
        for locale, entry in locales.items():
            for prompt_id, text in entry.prompts.items():
                reference = english.prompts.get(prompt_id)
                if reference is not None and placeholders(text) != placeholders(reference):
                    problems.append(
                        f"{locale} {prompt_id} has placeholders {sorted(placeholders(text))}"
                    )
    return problems


def load_catalogue() -> Catalogue:
    """Read every locale file shipped in this package; raise CatalogueError if any is wrong."""
    locales: dict[Locale, LocalePrompts] = {}
    for locale in Locale:
        resource = resources.files(__package__).joinpath(f"{locale.value}.yaml")
        try:
            raw = yaml.safe_load(resource.read_text(encoding="utf-8"))
            locales[locale] = LocalePrompts.model_validate(raw)
        except FileNotFoundError:
            continue
        except (yaml.YAMLError, ValidationError) as error:
            raise CatalogueError(f"{locale.value}.yaml is invalid: {error}") from None
    return Catalogue(locales)
