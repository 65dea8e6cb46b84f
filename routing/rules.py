"""Rule sets: the supervisor-editable document mapping call facts to queue, priority, skills."""

from __future__ import annotations

import itertools
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prompts.catalogue import Locale
from routing.models import CallFacts, Placement, Priority, QueueName, Reason, Screen, Skill, Worse

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

    def matches(self, facts: CallFacts) -> bool:
        return (
            (self.screen is None or facts.screen in self.screen)
            and (self.reason is None or facts.reason in self.reason)
            and (self.locale is None or facts.locale in self.locale)
            and (self.repeat is None or facts.repeat == self.repeat)
            and (self.worse is None or (facts.worse or Worse.UNANSWERED) in self.worse)
            and (self.line is None or facts.line in self.line)
        )


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


class Aging(Strict):
    """Guarded aging: a waiting caller gains one priority class every `every_seconds`, at most
    `max_steps` classes, and never reaches priority 1."""

    every_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    max_steps: Annotated[int, Field(ge=0, le=3)] = 2


class Offers(Strict):
    offer_timeout_seconds: Annotated[int, Field(ge=5, le=60)] = 20
    missed_in_row_limit: Annotated[int, Field(ge=1, le=10)] = 2
    missed_break_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    wrap_up_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    heartbeat_timeout_seconds: Annotated[int, Field(ge=5, le=300)] = 30


class EmergencyRule(Strict):
    handler_limit_seconds: Annotated[int, Field(ge=5, le=120)] = 30


class WorseRule(Strict):
    raise_by: Annotated[int, Field(ge=0, le=3)] = 1
    highest: Annotated[Priority, Field(ge=Priority.URGENT)] = Priority.URGENT


class HoldRule(Strict):
    pause_seconds: Annotated[int, Field(ge=5, le=120)] = 20
    safety_net_every: Annotated[int, Field(ge=1, le=20)] = 3
    callback_offer_over_seconds: Annotated[int, Field(ge=0)] = 300
    average_handle_seconds: Annotated[int, Field(ge=30, le=7200)] = 840


class RuleSet(Strict):
    """One version of the routing rules. Validation refuses any set that could route a case
    nowhere or put a non-emergency caller level with (or ahead of) an emergency."""

    skills: tuple[Skill, ...] = ()
    queues: dict[QueueName, QueueRule]
    routes: tuple[Route, ...]
    emergency: EmergencyRule = EmergencyRule()
    aging: Aging = Aging()
    offers: Offers = Offers()
    worse: WorseRule = WorseRule()
    hold: HoldRule = HoldRule()

    @model_validator(mode="after")
    def _safe(self) -> RuleSet:
        problems = route_problems(self)
        if problems:
            raise UnsafeRules(problems)
        return self

    def place(self, facts: CallFacts) -> Placement:
        """The first route whose conditions hold; validation guarantees there is one."""
        for route in self.routes:
            if route.when.matches(facts):
                return placement(route, self.queues[route.queue], facts, self.worse)
        raise AssertionError("validated rule set routed a case nowhere")


def placement(route: Route, queue: QueueRule, facts: CallFacts, worse: WorseRule) -> Placement:
    priority = route.priority
    if facts.worse is Worse.YES and priority > worse.highest:
        priority = Priority(max(worse.highest, priority - worse.raise_by))
    skills = tuple(sorted(set(queue.skills)))
    return Placement(route=route.name, queue=route.queue, priority=priority, skills=skills)


def every_case(rules: RuleSet) -> list[CallFacts]:
    """Every distinguishable combination of facts, for exhaustive checks."""
    lines = sorted({line for route in rules.routes for line in route.when.line or ()})
    lines.append("+440000000000")  # a line no route names
    worse_values: list[Worse | None] = [None, *Worse]
    return [
        CallFacts(locale=loc, screen=scr, reason=rea, worse=wor, repeat=rep, line=lin)
        for loc, scr, rea, wor, rep, lin in itertools.product(
            Locale, Screen, Reason, worse_values, (False, True), lines
        )
    ]


def route_problems(rules: RuleSet) -> list[str]:
    problems: list[str] = []
    known = set(rules.skills)
    for name, queue in sorted(rules.queues.items()):
        for skill in queue.skills:
            if skill not in known:
                problems.append(
                    f"queues.{name}.skills: no handler can have {skill!r}; "
                    f"the rule set's skills are {sorted(known)}"
                )
    names = [route.name for route in rules.routes]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"routes: name {name!r} is used twice")
    for index, route in enumerate(rules.routes):
        if route.queue not in rules.queues:
            problems.append(
                f"routes.{index}.queue: {route.queue!r} is not a queue of this rule set"
            )
    unrouted: list[CallFacts] = []
    for facts in every_case(rules):
        matched = next((r for r in rules.routes if r.when.matches(facts)), None)
        if matched is None:
            unrouted.append(facts)
            continue
        route = matched
        if facts.screen is Screen.YES and route.priority is not Priority.EMERGENCY:
            problems.append(
                f"routes.{rules.routes.index(route)}.priority: emergency callers must be priority 1"
            )
        if facts.screen is not Screen.YES and route.priority is Priority.EMERGENCY:
            problems.append(
                f"routes.{rules.routes.index(route)}.priority: only emergency callers may be "
                "priority 1"
            )
    if unrouted:
        example = unrouted[0]
        problems.append(
            f"routes: {len(unrouted)} cases are routed nowhere, "
            f"e.g. {example.model_dump(mode='json')}; add a catch-all route last"
        )
    return sorted(set(problems))


class UnsafeRules(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class RuleSetError(Exception):
    """A rule set document is invalid; `problems` lists each with the path to it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_rules(document: str | dict[str, Any]) -> RuleSet:
    """Parse YAML or JSON text (or an already-parsed mapping) into a validated RuleSet."""
    try:
        data = yaml.safe_load(document) if isinstance(document, str) else document
    except yaml.YAMLError as error:
        raise RuleSetError([f"document: not YAML or JSON ({error})"]) from None
    try:
        return RuleSet.model_validate(data)
    except ValidationError as error:
        problems: list[str] = []
        for item in error.errors(include_url=False):
            cause = item.get("ctx", {}).get("error")
            if isinstance(cause, UnsafeRules):
                problems.extend(cause.problems)
            else:
                path = ".".join(str(part) for part in item["loc"]) or "document"
                problems.append(f"{path}: {item['msg']}")
        raise RuleSetError(problems) from None


def default_rules() -> RuleSet:
    text = resources.files(__package__).joinpath("default_rules.yaml").read_text(encoding="utf-8")
    return parse_rules(text)
