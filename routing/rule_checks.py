"""Rule-set safety checks: every case routed somewhere, emergencies alone at priority 1, and
closed or overflow destinations that exist and never lead in a circle."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from prompts.catalogue import Locale
from routing.models import CallFacts, Priority, Reason, Screen, Worse

if TYPE_CHECKING:
    from routing.rules import RuleSet


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


def moments(rules: RuleSet) -> list[frozenset[str]]:
    """The kinds of moment to check a rule set at, as the timed routes in time: none, each one
    alone, and all of them."""
    timed = [route.name for route in rules.routes if route.when.during is not None]
    kinds = [frozenset(), *(frozenset({name}) for name in timed), frozenset(timed)]
    return list(dict.fromkeys(kinds))


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
    problems.extend(destination_problems(rules))
    names = [route.name for route in rules.routes]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"routes: name {name!r} is used twice")
    for index, route in enumerate(rules.routes):
        if route.queue not in rules.queues:
            problems.append(
                f"routes.{index}.queue: {route.queue!r} is not a queue of this rule set"
            )
    unrouted: list[CallFacts] = []
    cases = [(facts, moment) for moment in moments(rules) for facts in every_case(rules)]
    for facts, moment in cases:
        matched = next(
            (r for r in rules.routes if r.when.matches(facts, in_time=r.name in moment)), None
        )
        if matched is None:
            if facts not in unrouted:
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


def destination_problems(rules: RuleSet) -> list[str]:
    """Hours need somewhere to send callers; destinations must exist and lead nowhere in a
    circle; and the queues emergencies go to are never closed or diverted."""
    problems: list[str] = []
    emergency_queues = {r.queue for r in rules.routes if r.priority is Priority.EMERGENCY}
    edges: dict[str, set[str]] = {name: set() for name in rules.queues}
    for name, queue in sorted(rules.queues.items()):
        if queue.hours is not None and queue.closed is None:
            problems.append(
                f"queues.{name}.closed: a queue with hours needs a place for callers when closed"
            )
        if name in emergency_queues and (queue.hours is not None or queue.overflow):
            problems.append(
                f"queues.{name}: emergencies go here, so it may have no hours or overflow"
            )
        targets = [("closed", queue.closed)] + [
            (f"overflow.{index}.to", overflow.to) for index, overflow in enumerate(queue.overflow)
        ]
        for path, destination in targets:
            if destination is None or destination.queue is None:
                continue
            if destination.queue not in rules.queues:
                problems.append(
                    f"queues.{name}.{path}: {destination.queue!r} is not a queue of this rule set"
                )
            else:
                edges[name].add(destination.queue)
    for start in sorted(edges):
        seen, frontier = set(), set(edges[start])
        while frontier:
            current = frontier.pop()
            if current == start:
                problems.append(
                    f"queues.{start}: its closed or overflow destinations lead back to it"
                )
                break
            if current not in seen:
                seen.add(current)
                frontier |= edges.get(current, set())
    return problems
