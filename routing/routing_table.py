"""A rule set's routing table: routes (conditions on a call's facts, leading to a queue at a
priority) and the queues they lead to. The rule set's checks read it, and the rule set is one."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from prompts.catalogue import Locale
from routing.hours import Hours
from routing.models import CallFacts, Priority, QueueName, Reason, Screen, Skill, Worse
from routing.overflow import Destination, Overflow

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Match(Strict):
    """Conditions on call facts; an absent condition matches anything."""

    screen: tuple[Screen, ...] | None = None
    reason: tuple[Reason, ...] | None = None
    locale: tuple[Locale, ...] | None = None
    repeat: bool | None = None
    worse: tuple[Worse, ...] | None = None
    line: tuple[E164, ...] | None = None
    during: Hours | None = None  # when the call comes (Europe/London unless told otherwise)

    def matches(self, facts: CallFacts, in_time: bool | None = None) -> bool:
        """`in_time` decides the `during` condition instead of the facts' time (for checking
        a rule set at every kind of moment)."""
        if not self.answers_match(facts) or (self.line is not None and facts.line not in self.line):
            return False
        if self.during is None:
            return True  # the time last: it costs the most to decide
        return in_time if in_time is not None else self._in_time(facts)

    def answers_match(self, facts: CallFacts) -> bool:
        """The conditions on what the caller answered: all but the line and the time."""
        return (
            (self.screen is None or facts.screen in self.screen)
            and (self.reason is None or facts.reason in self.reason)
            and (self.locale is None or facts.locale in self.locale)
            and (self.repeat is None or facts.repeat == self.repeat)
            and (self.worse is None or (facts.worse or Worse.UNANSWERED) in self.worse)
        )

    def _in_time(self, facts: CallFacts) -> bool:
        assert self.during is not None
        return facts.at is not None and self.during.is_open(facts.at)


class Route(Strict):
    """Where calls matching `when` go. The queue decides the skills a handler needs."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,47}$")]
    when: Match = Match()
    queue: QueueName
    priority: Priority


class QueueRule(Strict):
    skills: tuple[Skill, ...] = ()
    min_proficiency: Annotated[int, Field(ge=1, le=5)] = 1
    strategy: Strategy = Strategy.LONGEST_IDLE
    hours: Hours | None = None
    closed: Destination | None = None
    overflow: tuple[Overflow, ...] = ()

    def answerable_by(self, skills: Mapping[str, int]) -> bool:
        """Whether a handler with these skills (and proficiencies) can take this queue's calls."""
        return all(skills.get(skill, 0) >= self.min_proficiency for skill in self.skills)


class RoutingTable(Strict):
    """The routes in order (the first that matches a call places it), the queues, and the
    skills handlers may have."""

    skills: tuple[Skill, ...] = ()
    queues: dict[QueueName, QueueRule]
    routes: tuple[Route, ...]
