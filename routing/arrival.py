"""A call arriving: its record opened once and the first question asked; and what a caller
hears before the next question while the clinical system is down."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from prompts.catalogue import Locale, PromptId
from routing import menu
from routing.calls import Opened
from routing.decisions import Ask, Decision, Spoken, Step
from routing.floor import Floor
from routing.menu import Placed
from routing.models import Answers, Screen

log = logging.getLogger(__name__)


async def arrive(floor: Floor, sid: str, caller: str, line: str) -> Decision:
    """A call comes in: the record is created once, and the first question asked."""
    welsh_line = line in floor.settings.welsh_line_numbers
    known = Opened(recognised=False, callback="")
    try:
        known = await floor.calls.open(sid, caller, line, Locale.EN, floor.clock.now())
    except RedisError as error:
        log.warning("call record not created: %s", error, extra={"call_sid": sid})
    answers = Answers(
        locale=None if welsh_line else Locale.EN,
        repeat=known.recognised,
        has_callback=bool(known.callback),
    )
    return menu.start(answers)


async def outage_notice(floor: Floor, current: Step, outcome: Ask | Placed) -> tuple[Spoken, ...]:
    """While degraded, a caller past the emergency screen (not an emergency) hears the
    supervisors' outage message first; an emergency hears nothing that would delay them."""
    answers = outcome.answers
    if current is not Step.EMERGENCY or answers.screen in (None, Screen.YES):
        return ()
    try:
        mode = await floor.modes.current()
        if not mode.degraded or not (await floor.rulebook.active()).degraded.announce:
            return ()
        text = (await floor.modes.message()).text(answers.language)
    except RedisError:
        return ()
    return (Spoken.of(PromptId.OUTAGE_MESSAGE, message=text),)
