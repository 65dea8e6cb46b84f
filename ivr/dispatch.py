"""What the ambulance dispatcher hears on answering: an emergency transfer, its case id, and
that the caller is coming. Also where the caller's record learns that the call is with the
dispatch line, if it was put through unrecorded (a safe answer, the Fallback URL, no Redis)."""

from __future__ import annotations

import asyncio
import logging

from ivr.context import Ivr
from ivr.forms import DialledForm
from ivr.states import DispatchWhisper
from prompts.catalogue import PromptId
from routing.connecting import spoken_case_id
from routing.decisions import Decision, Spoken, Whisper

log = logging.getLogger(__name__)

RECORD_WITHIN_SECONDS = 0.5  # the dispatcher is listening: never held up for the record


async def whisper(ivr: Ivr, form: DialledForm, state: DispatchWhisper) -> Decision:
    if form.parent_call_sid:
        # Recorded, the call is offered to no handler, and no redirect pulls the caller off.
        try:
            async with asyncio.timeout(RECORD_WITHIN_SECONDS):
                await ivr.floor.calls.dispatch(form.parent_call_sid, ivr.floor.clock.now())
        except Exception as error:  # the dispatcher hears the case id all the same
            log.warning(
                "dispatch not recorded: %s", error, extra={"call_sid": form.parent_call_sid}
            )
    spoken = (Spoken.of(PromptId.DISPATCH_WHISPER, case_id=spoken_case_id(state.case)),)
    return Whisper(say=spoken, accept=True)
