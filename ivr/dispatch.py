"""What the ambulance dispatcher hears on answering: the case id. Needs nothing but settings."""

from __future__ import annotations

from ivr.context import Ivr
from ivr.forms import TwilioForm
from ivr.urls import IvrState
from prompts.catalogue import PromptId
from routing.connecting import spoken_case_id
from routing.decisions import Decision, Spoken, Whisper


async def whisper(ivr: Ivr, form: TwilioForm, state: IvrState) -> Decision:
    spoken = (Spoken.of(PromptId.DISPATCH_WHISPER, case_id=spoken_case_id(state.case)),)
    return Whisper(say=spoken, accept=True)
