"""Rule sets: the supervisor-editable document mapping call facts to queue, priority, skills."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, model_validator

from routing.models import CallFacts, Placement, Priority, QueueName, Skill, Worse
from routing.overflow import QueueConditions, ToNumber
from routing.routing_table import QueueRule, Route, RoutingTable, Strict
from routing.rule_checks import LOADER, document_problems, route_problems, size_problems


class Aging(Strict):
    """Guarded aging: a waiting caller gains one priority class every `every_seconds`, at most
    `max_steps` classes, and never reaches priority 1."""

    every_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    max_steps: Annotated[int, Field(ge=0, le=3)] = 2


class RetryPolicy(Strict):
    """How often, and how far apart, a callback is tried before it is given to a clinician."""

    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    spacing_seconds: tuple[Annotated[int, Field(ge=30, le=86400)], ...] = (300, 900)


class CallbackRule(Strict):
    first: Literal["handler", "patient"] = "handler"
    ring_seconds: Annotated[int, Field(ge=10, le=120)] = 30
    machine_detection: bool = True
    retry: RetryPolicy = RetryPolicy()
    retry_by_priority: dict[Priority, RetryPolicy] = {}
    # Time from booking to the call being made, by priority class (REFERENCE: 90% of urgent
    # callbacks within 20 minutes; less urgent clinical assessment within 60).
    targets_seconds: dict[Priority, Annotated[int, Field(ge=60, le=86400)]] = {
        Priority.URGENT: 1200,
        Priority.STANDARD: 3600,
    }
    at_risk_after: Annotated[float, Field(gt=0, le=1)] = 0.75  # of the target: then raised
    calls_per_second: Annotated[float, Field(gt=0, le=100)] = 1.0  # Twilio's default

    def policy(self, priority: Priority) -> RetryPolicy:
        return self.retry_by_priority.get(priority, self.retry)

    def spacing(self, priority: Priority, attempts_made: int) -> float:
        """Seconds before the next attempt, after `attempts_made` failed ones."""
        spacing = self.policy(priority).spacing_seconds or (300,)
        return float(spacing[min(attempts_made, len(spacing)) - 1])


class DegradedRule(Strict):
    """While the clinical system is down."""

    announce: bool = True  # callers hear the supervisor's outage message after the screen
    emergency_dispatch_at_once: bool = True  # no handler free: the dispatch line, now


class Offers(Strict):
    offer_timeout_seconds: Annotated[int, Field(ge=5, le=60)] = 20
    missed_in_row_limit: Annotated[int, Field(ge=1, le=10)] = 2
    missed_break_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    wrap_up_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    heartbeat_timeout_seconds: Annotated[int, Field(ge=5, le=300)] = 30
    # An offer whose outcome has not come back this long after its ring time is taken back.
    lost_after_seconds: Annotated[int, Field(ge=5, le=600)] = 30


class EmergencyRule(Strict):
    """A priority-1 caller: offered to a free handler who can take the call and put through to
    the dispatch line if that handler has not answered within `handler_limit_seconds`; put
    through at once when no such handler is free, unless one is finishing a wrap-up and the
    caller has waited less than `wait_for_wrap_up_seconds` (0: never waits for one). While
    waiting they are told to stay on the line every `reassure_every_seconds`."""

    handler_limit_seconds: Annotated[int, Field(ge=5, le=120)] = 30
    reassure_every_seconds: Annotated[int, Field(ge=3, le=15)] = 10
    wait_for_wrap_up_seconds: Annotated[int, Field(ge=0, le=120)] = 0

    @model_validator(mode="after")
    def _within_the_limit(self) -> EmergencyRule:
        if self.wait_for_wrap_up_seconds > self.handler_limit_seconds:
            raise ValueError(
                "wait_for_wrap_up_seconds may not be longer than handler_limit_seconds"
            )
        return self

    def dispatch_at_once(self, free: int, wrapping_up: int, waited: float) -> bool:
        """Whether a waiting priority-1 caller goes to the dispatch line now: nobody who could
        take the call is free, and none is finishing a wrap-up that the rules wait for."""
        if free:
            return False
        return not (wrapping_up and waited < self.wait_for_wrap_up_seconds)


class WorseRule(Strict):
    raise_by: Annotated[int, Field(ge=0, le=3)] = 1
    highest: Annotated[Priority, Field(ge=Priority.URGENT)] = Priority.URGENT


class HoldRule(Strict):
    pause_seconds: Annotated[int, Field(ge=5, le=120)] = 20
    safety_net_every: Annotated[int, Field(ge=1, le=20)] = 3
    callback_offer_over_seconds: Annotated[int, Field(ge=0)] = 300
    average_handle_seconds: Annotated[int, Field(ge=30, le=7200)] = 840


UrgencyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
IMMEDIATE = "immediate"  # the urgency the NHS measures: a clinician within 20 minutes
ONWARD_ROUTE = "onward:"  # the route of a placement a handler chose: `onward:{urgency}`


class Urgency(Strict):
    """How soon a clinician must speak to the patient: the class they wait at (never 1: that
    is for emergencies) and the target, from the handler's decision."""

    priority: Annotated[Priority, Field(ge=Priority.URGENT)]
    target_seconds: Annotated[int, Field(ge=60, le=86400)]


class OnwardRule(Strict):
    """Sending a caller on from a handler: which queue and skill are the clinicians', and the
    urgency levels a handler chooses from (REFERENCE: immediate within 20 minutes)."""

    clinician_queue: QueueName | None = None
    clinician_skill: Skill | None = None
    # To the dispatch line: the handler stays on, with the caller, until the dispatcher answers
    # (a conference; the case id is read to the dispatcher first), or leaves at once (the
    # caller's own leg is moved, by a webhook that dials the line with or without Redis).
    dispatch_warm: bool = False
    urgencies: dict[UrgencyName, Urgency] = {
        IMMEDIATE: Urgency(priority=Priority.URGENT, target_seconds=1200),
        "within_hour": Urgency(priority=Priority.STANDARD, target_seconds=3600),
    }

    @model_validator(mode="after")
    def _complete(self) -> OnwardRule:
        if (self.clinician_queue is None) != (self.clinician_skill is None):
            raise ValueError("name both clinician_queue and clinician_skill, or neither")
        if IMMEDIATE not in self.urgencies:
            raise ValueError(f"the urgencies must include {IMMEDIATE!r}")
        return self


class Decided(Strict):
    """A dry run's answer: where the route places the call, where it ends up, and why."""

    placed: Placement
    outcome: Placement | ToNumber
    because: tuple[str, ...]


class FeedbackRule(Strict):
    """Who is asked the Friends and Family Test question when their handler ends the call, and
    what share of them (chosen by their call, so that asking again gives the same answer): on a
    busy day a supervisor may ask fewer. Never after an emergency, nor while degraded, unless
    said here; `queues` empty: callers of every queue. Nobody is asked until a rule set gives a
    share: a new question on a clinical line is the service's to switch on."""

    share: Annotated[float, Field(ge=0, le=1)] = 0.0
    queues: tuple[QueueName, ...] = ()
    after_emergency: bool = False
    in_degraded: bool = False
    after_callbacks: bool = True  # a callback that rang the patient first (the only shape that can)


class RuleSet(RoutingTable):
    """One version of the routing rules: the routing table and the policies. Validation refuses
    any set that could route a case nowhere or put a non-emergency caller level with (or ahead
    of) an emergency; with the context `{"trusted": True}` (a stored version, checked when it
    was created) it checks the shape and leaves out the check of every case."""

    emergency: EmergencyRule = EmergencyRule()
    aging: Aging = Aging()
    offers: Offers = Offers()
    callbacks: CallbackRule = CallbackRule()
    degraded: DegradedRule = DegradedRule()
    worse: WorseRule = WorseRule()
    hold: HoldRule = HoldRule()
    onward: OnwardRule = OnwardRule()
    feedback: FeedbackRule = FeedbackRule()

    @model_validator(mode="after")
    def _safe(self, info: ValidationInfo) -> RuleSet:
        context = info.context if isinstance(info.context, Mapping) else {}
        trusted = context.get("trusted") is True
        exceptions = None if trusted else frozenset(context.get("number_exceptions", ()))
        problems = route_problems(self, every_case=not trusted, number_exceptions=exceptions)
        problems.extend(self._onward_problems())
        problems.extend(
            f"feedback.queues: {queue!r} is not a queue of this rule set"
            for queue in self.feedback.queues
            if queue not in self.queues
        )
        if problems:
            raise UnsafeRules(problems)
        return self

    def _onward_problems(self) -> list[str]:
        onward = self.onward
        if onward.clinician_queue is None:
            return []
        queue = self.queues.get(onward.clinician_queue)
        if queue is None:
            return [
                f"onward.clinician_queue: {onward.clinician_queue!r} is not a queue of this "
                "rule set"
            ]
        if onward.clinician_skill not in queue.skills:
            return [
                f"onward.clinician_skill: the queue {onward.clinician_queue!r} must need "
                f"{onward.clinician_skill!r}, or its callers could reach a handler who is not a "
                "clinician"
            ]
        return []

    def clinician_placement(self, urgency: str) -> Placement | None:
        """Where a caller sent on to a clinician waits, at the urgency's class (an urgency these
        rules do not have: the most urgent they have); None if they name no clinicians' queue."""
        onward = self.onward
        if onward.clinician_queue is None:
            return None
        if urgency not in onward.urgencies:
            urgency = min(onward.urgencies, key=lambda name: onward.urgencies[name].priority)
        level = onward.urgencies[urgency]
        queue = self.queues[onward.clinician_queue]
        return Placement(
            route=f"{ONWARD_ROUTE}{urgency}",
            queue=onward.clinician_queue,
            priority=level.priority,
            skills=tuple(sorted(set(queue.skills))),
        )

    def replace(self, placement: Placement, facts: CallFacts) -> Placement:
        """Where a waiting caller placed by `placement` belongs under these rules: one a
        handler sent to a clinician, in the clinicians' queue at their urgency (or, with none,
        where their answers lead); anyone else, where their answers lead."""
        if placement.route.startswith(ONWARD_ROUTE):
            onward = self.clinician_placement(placement.route.removeprefix(ONWARD_ROUTE))
            if onward is not None:
                return onward
        return self.place(facts)

    def place(self, facts: CallFacts) -> Placement:
        """The first route whose conditions hold; validation guarantees there is one."""
        for route in self.routes:
            if route.when.matches(facts):
                return placement(route, self.queues[route.queue], facts, self.worse)
        raise AssertionError("validated rule set routed a case nowhere")

    def watched(self) -> list[str]:
        """Queues whose overflow depends on live conditions."""
        return sorted(name for name, queue in self.queues.items() if queue.overflow)

    def needs_conditions(self, queue: str) -> bool:
        """Whether placing a caller in `queue` can depend on live conditions (an overflow on
        it, or on a queue its closed or overflow destinations lead to)."""
        seen, frontier = set(), [queue]
        while frontier:
            name = frontier.pop()
            if name in seen or name not in self.queues:
                continue
            seen.add(name)
            rule = self.queues[name]
            if rule.overflow:
                return True
            if rule.closed is not None and rule.closed.queue is not None:
                frontier.append(rule.closed.queue)
        return False

    def decide(self, facts: CallFacts, conditions: Mapping[str, QueueConditions]) -> Decided:
        """What happens to a call with these facts, and the rules that say so: its route, then
        closed hours and overflow at the facts' time (as the IVR does; never for emergencies)."""
        placed = self.place(facts)
        index = next(i for i, route in enumerate(self.routes) if route.name == placed.route)
        because = (f"routes.{index} ({placed.route}) matched",)
        if placed.priority is Priority.EMERGENCY or facts.at is None:
            return Decided(placed=placed, outcome=placed, because=because)
        outcome, moves = self.follow(placed, facts.at, conditions)
        return Decided(placed=placed, outcome=outcome, because=because + moves)

    def resolve(
        self, placement: Placement, now: float, conditions: Mapping[str, QueueConditions]
    ) -> Placement | ToNumber:
        """Follow closed-hours and overflow destinations from the placed queue until none
        applies. The caller keeps their priority and arrival time wherever they end up."""
        return self.follow(placement, now, conditions)[0]

    def follow(
        self, placement: Placement, now: float, conditions: Mapping[str, QueueConditions]
    ) -> tuple[Placement | ToNumber, tuple[str, ...]]:
        """`resolve`, with the rule behind each move (its path in the document)."""
        queue = placement.queue
        seen = {queue}
        moves: list[str] = []
        while True:
            rule = self.queues[queue]
            destination, because = None, ""
            if rule.hours is not None and not rule.hours.is_open(now):
                destination, because = rule.closed, f"queues.{queue}.closed: {queue} is closed"
            else:
                state = conditions.get(queue)
                for index, overflow in enumerate(rule.overflow):
                    if state is not None and overflow.holds(state):
                        destination = overflow.to
                        because = f"queues.{queue}.overflow.{index}: {queue} overflowed"
                        break
            if destination is None or (destination.queue is not None and destination.queue in seen):
                skills = tuple(sorted(set(rule.skills)))
                return placement.model_copy(update={"queue": queue, "skills": skills}), tuple(moves)
            if destination.number is not None:
                moves.append(f"{because}, to {destination.number}")
                return ToNumber(number=destination.number, because=because), tuple(moves)
            assert destination.queue is not None
            moves.append(f"{because}, to queue {destination.queue}")
            seen.add(destination.queue)
            queue = destination.queue


def placement(route: Route, queue: QueueRule, facts: CallFacts, worse: WorseRule) -> Placement:
    priority = route.priority
    if facts.worse is Worse.YES and priority > worse.highest:
        priority = Priority(max(worse.highest, priority - worse.raise_by))
    skills = tuple(sorted(set(queue.skills)))
    return Placement(route=route.name, queue=route.queue, priority=priority, skills=skills)


class UnsafeRules(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class RuleSetError(Exception):
    """A rule set document is invalid; `problems` lists each with the path to it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_rules(
    document: str | dict[str, Any],
    *,
    trusted: bool = False,
    number_exceptions: frozenset[str] = frozenset(),
) -> RuleSet:
    """Parse YAML or JSON text (or an already-parsed mapping) into a validated RuleSet. The
    limits are checked first, so that what follows is bounded. `trusted`: a stored version,
    checked when it was created (perhaps under other limits); its shape is checked, not its
    limits nor every case again."""
    if isinstance(document, str):
        problems = [] if trusted else document_problems(document)
        if problems:
            raise RuleSetError(problems)
        try:
            data = yaml.load(document, Loader=LOADER)  # noqa: S506 (LOADER is a safe one)
        except yaml.YAMLError as error:
            raise RuleSetError([f"document: not YAML or JSON ({error})"]) from None
        except ValueError as error:  # a date that is not one (2026-02-30)
            raise RuleSetError([f"document: a value cannot be read ({error})"]) from None
    else:
        data = document
    problems = [] if trusted else size_problems(data)
    if problems:
        raise RuleSetError(problems)
    try:
        context = {"trusted": trusted, "number_exceptions": number_exceptions}
        return RuleSet.model_validate(data, context=context)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            cause = item.get("ctx", {}).get("error")
            if isinstance(cause, UnsafeRules):
                problems.extend(cause.problems)
            else:
                path = ".".join(str(part) for part in item["loc"]) or "document"
                problems.append(f"{path}: {item['msg']}")
        raise RuleSetError(problems) from None


@cache
def default_rules() -> RuleSet:
    """The packaged rule set (read and checked once a process: a RuleSet is immutable)."""
    text = resources.files(__package__).joinpath("default_rules.yaml").read_text(encoding="utf-8")
    return parse_rules(text)
