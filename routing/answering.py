"""A caller's answer to an IVR question: the next question, or the call placed by its answers.
Taken by the webhooks and the simulator alike."""

from __future__ import annotations

from routing import menu
from routing.arrival import outage_notice
from routing.callback_booking import CALLBACK_STEPS
from routing.decisions import Ask, Decision, Step
from routing.floor import Floor
from routing.menu import Given
from routing.models import Call
from routing.placing import place


async def answer(floor: Floor, call: Call, step: Step, attempt: int, given: Given) -> Decision:
    """`given` at question `step` (its `attempt`th asking) of `call`, whose answers so far it
    carries. NoPlacement and CannotQueue as the callback steps and `place` raise them."""
    if step in CALLBACK_STEPS:
        return await CALLBACK_STEPS[step](floor, call, attempt, given)
    outcome = menu.advance(step, call.answers, attempt, given)
    before = await outage_notice(floor, step, outcome)
    if isinstance(outcome, Ask):
        return outcome.model_copy(update={"say": before + outcome.say}) if before else outcome
    placed = call.model_copy(update={"answers": outcome.answers})
    return await place(floor, placed, outcome.gave_up, before)
