"""Dry runs: a call's facts tried on a rule set version, as the API and the rules page take them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from prompts.catalogue import Locale
from routing.models import CallFacts, Reason, Screen, Worse
from routing.queues import Queues
from routing.rulebook import RuleBook
from routing.rules import Decided

MAIN_LINE = "+441134960000"


class CallDescription(BaseModel):
    """What a caller would have answered, and the number they rang."""

    locale: Locale = Locale.EN
    screen: Screen = Screen.NO
    reason: Reason = Reason.UNKNOWN
    worse: Worse | None = None
    repeat: bool = False
    line: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] = MAIN_LINE

    def facts(self, at: float) -> CallFacts:
        return CallFacts(
            locale=self.locale,
            screen=self.screen,
            reason=self.reason,
            worse=self.worse,
            repeat=self.repeat,
            line=self.line,
            at=at,
        )


async def decide(
    rulebook: RuleBook, queues: Queues, version: int | None, call: CallDescription, at: float
) -> tuple[int | None, Decided]:
    """The decision for `call` at `at` on `version` (None: the active one), under the queues'
    live conditions; and the version it was tried on."""
    if version is None:
        rules, version = await rulebook.active(), await rulebook.active_number()
    else:
        rules = (await rulebook.get(version)).rules
    return version, rules.decide(call.facts(at), await queues.conditions(rules))
