"""The Fallback URL: needs nothing but settings (no Redis), and puts the emergency path first."""

from __future__ import annotations

import logging

from ivr.context import Ivr
from ivr.forms import FallbackForm
from ivr.safety import emergency_dial
from ivr.states import Asked
from ivr.urls import locale_in
from prompts.catalogue import Locale, PromptId
from routing import menu
from routing.decisions import Continue, Decision, Nothing, Step, say
from routing.menu import Given
from routing.models import Answers, Screen

log = logging.getLogger(__name__)


async def fallback(ivr: Ivr, form: FallbackForm, state: Asked) -> Decision:
    # The caller's language: from our own fallback URLs, else from the URL that failed (ours
    # carry it); unknown on a Welsh line, the screen is said in both languages.
    known = state.answers.locale or locale_in(form.error_url)
    bilingual = known is None and form.called in ivr.settings.welsh_line_numbers
    locale = known or Locale.EN
    chosen = None if bilingual else locale  # the language question comes after, if unknown
    if state.step == "dispatched":
        if form.dial_status in ("completed", "answered", "canceled"):
            return Nothing()
        return emergency_dial(ivr, locale, form.call_sid, fallback=True)
    if state.step == Step.EMERGENCY.value:
        answer = menu.choice(Step.EMERGENCY, Given(digits=form.digits, speech=form.speech))
        if answer == Screen.YES:
            return emergency_dial(ivr, locale, form.call_sid, fallback=True)
        screen = Screen.NO if answer == Screen.NO else Screen.UNANSWERED
        answers = Answers(locale=chosen, screen=screen)
        # As on the way in (routing/menu.py): that calls are recorded, once past the screen.
        notice = (PromptId.RECORDING_NOTICE,) if screen is Screen.NO else ()
        return Continue(locale=locale, answers=answers, say=say(PromptId.HOLD_ON, *notice))
    log.error(
        "fallback after error %s at %s",
        form.error_code or "unknown",
        form.error_url or "unknown URL",
        extra={"call_sid": form.call_sid},
    )
    if bilingual:  # keypad only, as everything Welsh (Twilio has no Welsh speech recognition)
        locale = Locale.CY
    question = menu.ask(Step.EMERGENCY, Answers(locale=chosen), locale)
    return question.model_copy(
        update={
            "fallback": True,
            "bilingual": bilingual,
            "say": say(PromptId.TECHNICAL_DIFFICULTY) + question.say,
        }
    )
