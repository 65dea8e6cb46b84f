"""The IVR questions as a table, and the pure step from one answer to the next question."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from prompts.catalogue import Locale, PromptId
from routing.decisions import Ask, Spoken, Step, say
from routing.models import Answers, Reason, Screen, Worse

MAX_ASKS = 3  # the question, then asked again twice


class Given(BaseModel):
    """What came back from a `<Gather>`: keys, words, or nothing."""

    model_config = ConfigDict(frozen=True)

    digits: str = ""
    speech: str = ""

    @property
    def empty(self) -> bool:
        return not self.digits and not self.speech


@dataclass(frozen=True)
class Question:
    prompts: tuple[PromptId, ...]
    keys: Mapping[str, str]
    words: Mapping[str, str] = field(default_factory=dict)


YES_WORDS = {"yes": "1", "yeah": "1", "yep": "1", "no": "2", "nope": "2"}

QUESTIONS: Mapping[Step, Question] = {
    Step.LANGUAGE: Question((PromptId.LANGUAGE_CHOICE,), {"1": Locale.CY, "2": Locale.EN}),
    Step.EMERGENCY: Question(
        (PromptId.EMERGENCY_SCREEN,), {"1": Screen.YES, "2": Screen.NO}, YES_WORDS
    ),
    Step.REASON: Question(
        (PromptId.REASON_MENU,),
        {
            "1": Reason.MEDICAL,
            "2": Reason.MENTAL_HEALTH,
            "3": Reason.DENTAL,
            "4": Reason.MEDICINES,
            "5": Reason.EXISTING_CASE,
        },
    ),
    Step.WORSE: Question((PromptId.WORSE_QUESTION,), {"1": Worse.YES, "2": Worse.NO}, YES_WORDS),
    Step.CALLBACK_OFFER: Question((PromptId.CALLBACK_OFFER,), {"1": "yes"}),
    Step.CALLBACK_EXISTING: Question(
        (PromptId.CALLBACK_EXISTING,), {"1": "keep", "2": "worse", "3": "cancel"}
    ),
    Step.CALLBACK_CONFIRM: Question(
        (PromptId.CALLBACK_CONFIRM_NUMBER,), {"1": "confirm", "2": "change"}
    ),
    Step.CALLBACK_NUMBER: Question((PromptId.CALLBACK_ENTER_NUMBER,), {}),
    Step.CALLBACK_READBACK: Question(
        (PromptId.CALLBACK_READBACK,), {"1": "confirm", "2": "change"}
    ),
}


def choice(step: Step, given: Given) -> str | None:
    """The menu choice the caller made at `step`, or None for nothing or something invalid."""
    question = QUESTIONS[step]
    if given.digits:
        return question.keys.get(given.digits)
    words = re.findall(r"[a-z]+", given.speech.lower())
    if words and question.words:
        key = question.words.get(words[0])
        return question.keys.get(key) if key else None
    return None


def ask(
    step: Step,
    answers: Answers,
    locale: Locale,
    attempt: int = 0,
    before: tuple[Spoken, ...] = (),
    values: Mapping[str, object] | None = None,
) -> Ask:
    question = QUESTIONS[step]
    spoken = tuple(Spoken.of(prompt, **(values or {})) for prompt in question.prompts)
    return Ask(
        step=step,
        locale=locale,
        answers=answers,
        attempt=attempt,
        say=before + spoken,
        speech=bool(question.words),
        num_digits=None if step is Step.CALLBACK_NUMBER else 1,
        bilingual=step is Step.LANGUAGE,
    )


def retry_prompt(given: Given) -> tuple[Spoken, ...]:
    return say(PromptId.NOT_HEARD if given.empty else PromptId.NOT_UNDERSTOOD)


def next_step(answers: Answers) -> Step | None:
    """The next IVR question, or None when the caller is ready to be placed."""
    if answers.locale is None:
        return Step.LANGUAGE
    if answers.screen is None:
        return Step.EMERGENCY
    if answers.screen is not Screen.NO:
        return None
    if answers.has_callback and answers.callback_choice is None:
        return Step.CALLBACK_EXISTING
    if answers.reason is None and not answers.repeat:
        return Step.REASON
    if answers.worse is None and (answers.repeat or answers.reason is Reason.EXISTING_CASE):
        return Step.WORSE
    return None


def record(step: Step, answers: Answers, value: str | None) -> Answers:
    """Answers with `value` taken at `step`; `None` records that no usable answer came."""
    match step:
        case Step.LANGUAGE:
            return answers.model_copy(update={"locale": Locale(value) if value else Locale.EN})
        case Step.EMERGENCY:
            return answers.model_copy(update={"screen": Screen(value or Screen.UNANSWERED)})
        case Step.REASON:
            return answers.model_copy(update={"reason": Reason(value or Reason.UNKNOWN)})
        case Step.WORSE:
            return answers.model_copy(
                update={
                    "worse": Worse(value or Worse.UNANSWERED),
                    "reason": answers.reason or Reason.EXISTING_CASE,
                }
            )
        case _:
            raise ValueError(f"{step} is not an IVR question")


@dataclass(frozen=True)
class Placed:
    """The IVR is done: place the call with these answers."""

    answers: Answers
    gave_up: bool


def start(answers: Answers) -> Ask:
    step = next_step(answers)
    assert step is not None, "a new call always has a question to ask"
    locale = answers.language
    before = say(PromptId.WELCOME) if step is Step.EMERGENCY else ()
    return ask(step, answers, locale, before=before)


def advance(step: Step, answers: Answers, attempt: int, given: Given) -> Ask | Placed:
    """One answer in: the same question again (at most twice more), the next one, or done."""
    value = choice(step, given)
    locale = answers.language
    gave_up = False
    if value is None:
        if attempt + 1 < MAX_ASKS:
            return ask(step, answers, locale, attempt + 1, before=retry_prompt(given))
        gave_up = True
    answers = record(step, answers, value)
    following = next_step(answers)
    if following is None:
        return Placed(answers=answers, gave_up=gave_up)
    locale = answers.language
    return ask(following, answers, locale, before=_before(step, following, answers))


def _before(step: Step, following: Step, answers: Answers) -> tuple[Spoken, ...]:
    """The welcome before the emergency screen; the notice that calls are recorded straight
    after a "no" to it: never before the screen, nothing between a caller and its key 1."""
    if following is Step.EMERGENCY:
        return say(PromptId.WELCOME)
    if step is Step.EMERGENCY and answers.screen is Screen.NO:
        return say(PromptId.RECORDING_NOTICE)
    return ()
