"""The Fallback URL: needs nothing but settings (no Redis), and puts the emergency path first."""

from __future__ import annotations

import logging

from ivr.context import Ivr
from ivr.forms import FallbackForm
from ivr.safety import emergency_dial
from ivr.urls import IvrState
from prompts.catalogue import Locale, PromptId
from routing import menu
from routing.decisions import Continue, Decision, Nothing, Step, say
from routing.menu import Given
from routing.models import Answers, Screen

log = logging.getLogger(__name__)


async def fallback(ivr: Ivr, form: FallbackForm, state: IvrState) -> Decision:
    if state.step == "dispatched":
        if form.dial_status in ("completed", "answered", "canceled"):
            return Nothing()
        return emergency_dial(ivr, Locale.EN, form.call_sid, fallback=True)
    if state.step == Step.EMERGENCY.value:
        answer = menu.choice(Step.EMERGENCY, Given(digits=form.digits, speech=form.speech))
        if answer == Screen.YES:
            return emergency_dial(ivr, Locale.EN, form.call_sid, fallback=True)
        screen = Screen.NO if answer == Screen.NO else Screen.UNANSWERED
        answers = Answers(locale=Locale.EN, screen=screen)
        return Continue(locale=Locale.EN, answers=answers, say=say(PromptId.HOLD_ON))
    log.error(
        "fallback after error %s at %s",
        form.error_code or "unknown",
        form.error_url or "unknown URL",
        extra={"call_sid": form.call_sid},
    )
    question = menu.ask(Step.EMERGENCY, Answers(locale=Locale.EN), Locale.EN)
    return question.model_copy(
        update={"fallback": True, "say": say(PromptId.TECHNICAL_DIFFICULTY) + question.say}
    )
