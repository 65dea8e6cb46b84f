"""Rule-set checks: limits on a document's size, first and cheap, which bound the cost of the rest;
then safety: every case routed somewhere, emergencies alone at priority 1, and destinations that
exist and lead nowhere in a circle."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import yaml

from config.number_policy import outside_policy
from prompts.catalogue import Locale
from routing.models import CallFacts, Priority, Reason, Screen, Worse
from routing.overflow import Destination
from routing.routing_table import QueueRule, RoutingTable

# Generous for a contract area: the packaged default is 3 KiB, with 8 routes, 6 queues and no
# numbers. Validation grows with routes x numbers (lines no route tells apart are one case).
MAX_BYTES = 64 * 1024
MAX_VALUES = 20_000  # scalars, keys and collections, with every YAML alias written out
MAX_DEPTH = 20  # a valid rule set nests 8 deep
MAX_ROUTES = 200
MAX_QUEUES = 50
MAX_NUMBERS = 100  # distinct numbers in the routes' `line` conditions
MAX_TIMED_ROUTES = 50  # routes with `during` hours

# libyaml's parser when it is there (ten times faster); its composer recurses in C, which is why
# the nesting is measured from the parser's events before anything is composed.
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

OTHER_LINE = "+440000000000"  # stands for every line no route names


def document_problems(document: str) -> list[str]:
    """The text's size, nesting and size with aliases written out (an alias repeats a value
    without its text: `[*a, *a]` of a list of lists of ... grows exponentially). Syntax errors
    are left to the loader, which reports them with their line."""
    size = len(document.encode("utf-8"))
    if size > MAX_BYTES:
        return [
            f"document: {size / 1024:.1f} KiB of text; a rule set may have at most "
            f"{MAX_BYTES // 1024} KiB"
        ]
    values = depth = 0
    started: list[tuple[str | None, int]] = []  # open collections: anchor, values before it
    sizes: dict[str, int] = {}  # values under each anchor seen so far
    try:
        for event in yaml.parse(document, Loader=LOADER):
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in (anchor for anchor, _ in started):
                    return [f"document: the alias *{event.anchor} is inside its own anchor"]
                values += sizes.get(str(event.anchor), 1)  # unknown: the loader says so
            elif isinstance(event, yaml.ScalarEvent):
                values += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                values, depth = values + 1, depth + 1
                started.append((event.anchor, values - 1))
                if depth > MAX_DEPTH:
                    return [f"document: nested more than {MAX_DEPTH} deep"]
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before = started.pop()
                depth -= 1
                if anchor is not None:
                    sizes[anchor] = values - before
            if values > MAX_VALUES:
                return [
                    f"document: more than {MAX_VALUES:,} values (keys included, aliases "
                    "written out); a rule set may have at most that many"
                ]
    except yaml.YAMLError:
        return []
    return []


def _items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def size_problems(data: Any) -> list[str]:
    """Routes, queues, numbers and timed routes over their limits, each with its path, from the
    parsed document before it is validated (anything else wrong is the validator's to say)."""
    if not isinstance(data, Mapping):
        return []
    problems: list[str] = []
    queues, routes = data.get("queues"), _items(data.get("routes"))
    if isinstance(queues, Mapping) and len(queues) > MAX_QUEUES:
        problems.append(f"queues: {len(queues)} queues; a rule set may have at most {MAX_QUEUES}")
    if len(routes) > MAX_ROUTES:
        problems.append(f"routes: {len(routes)} routes; a rule set may have at most {MAX_ROUTES}")
        return problems
    numbers: set[str] = set()
    timed = 0
    for index, route in enumerate(routes):
        when = route.get("when") if isinstance(route, Mapping) else None
        if not isinstance(when, Mapping):
            continue
        lines = {line for line in _items(when.get("line")) if isinstance(line, str)}
        if len(numbers) <= MAX_NUMBERS < len(numbers | lines):
            problems.append(
                f"routes.{index}.when.line: more than {MAX_NUMBERS} numbers; the routes of a "
                f"rule set may name at most {MAX_NUMBERS} lines"
            )
        numbers |= lines
        if when.get("during") is not None:
            timed += 1
            if timed == MAX_TIMED_ROUTES + 1:
                problems.append(
                    f"routes.{index}.when.during: more than {MAX_TIMED_ROUTES} timed routes; a "
                    f"rule set may have at most {MAX_TIMED_ROUTES}"
                )
    return problems


@cache
def answer_cases() -> tuple[CallFacts, ...]:
    """Every combination of the caller's answers (on no line in particular, at no time)."""
    worse_values: list[Worse | None] = [None, *Worse]
    return tuple(
        CallFacts(locale=loc, screen=scr, reason=rea, worse=wor, repeat=rep, line=OTHER_LINE)
        for loc, scr, rea, wor, rep in itertools.product(
            Locale, Screen, Reason, worse_values, (False, True)
        )
    )


def route_problems(
    rules: RoutingTable,
    every_case: bool = True,
    number_exceptions: frozenset[str] | None = frozenset(),
) -> list[str]:
    """Everything wrong with the rules; `every_case` False leaves out the one check whose cost
    grows with the rule set, and `number_exceptions` None the number policy (for a version that
    passed both when it was created)."""
    problems: list[str] = []
    known = set(rules.skills)
    for name, queue in sorted(rules.queues.items()):
        for skill in queue.skills:
            if skill not in known:
                problems.append(
                    f"queues.{name}.skills: no handler can have {skill!r}; "
                    f"the rule set's skills are {sorted(known)}"
                )
    problems.extend(destination_problems(rules, number_exceptions))
    names = [route.name for route in rules.routes]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"routes: name {name!r} is used twice")
    for index, route in enumerate(rules.routes):
        if route.queue not in rules.queues:
            problems.append(
                f"routes.{index}.queue: {route.queue!r} is not a queue of this rule set"
            )
    if every_case:
        problems.extend(case_problems(rules))
    return sorted(set(problems))


def case_problems(rules: RoutingTable) -> list[str]:
    """Every case, at every kind of moment: routed somewhere, and to priority 1 exactly when the
    caller said it is an emergency.

    A case is the caller's answers and the line. Lines that the same routes name are one class
    (and every line no route names another), and a case's answers are a bit in an integer, so
    each route's conditions are evaluated once per combination of answers, and the cases of a
    line class are followed through the routes together. A timed route can take exactly the
    cases that no untimed route before it took, whichever other timed routes are in time.
    """
    cases = answer_cases()
    everything = (1 << len(cases)) - 1
    emergency = sum(1 << i for i, case in enumerate(cases) if case.screen is Screen.YES)
    routes = rules.routes
    answered = [
        sum(1 << i for i, case in enumerate(cases) if route.when.answers_match(case))
        for route in routes
    ]
    naming: dict[str, set[int]] = {}
    for index, route in enumerate(routes):
        for line in route.when.line or ():
            naming.setdefault(line, set()).add(index)
    classes: dict[frozenset[int], list[str]] = {frozenset(): [OTHER_LINE]}
    for line in sorted(naming):
        classes.setdefault(frozenset(naming[line]), []).append(line)
    reached = [0] * len(routes)
    unrouted = 0
    example: tuple[int, str] | None = None
    for named_by, lines in classes.items():
        left = everything
        for index, route in enumerate(routes):
            if route.when.line is not None and index not in named_by:
                continue
            reached[index] |= answered[index] & left
            if route.when.during is None:
                left &= ~answered[index]
                if not left:
                    break
        if left:
            unrouted += left.bit_count() * len(lines)
            first = ((left & -left).bit_length() - 1, lines[0])
            example = first if example is None else min(example, first)
    problems = []
    for index, route in enumerate(routes):
        if route.priority is not Priority.EMERGENCY and reached[index] & emergency:
            problems.append(f"routes.{index}.priority: emergency callers must be priority 1")
        if route.priority is Priority.EMERGENCY and reached[index] & ~emergency:
            problems.append(f"routes.{index}.priority: only emergency callers may be priority 1")
    if example is not None:
        case = cases[example[0]].model_copy(update={"line": example[1]})
        problems.append(
            f"routes: {unrouted} cases are routed nowhere, "
            f"e.g. {case.model_dump(mode='json')}; add a catch-all route last"
        )
    return problems


def destination_problems(
    rules: RoutingTable, number_exceptions: frozenset[str] | None = frozenset()
) -> list[str]:
    """Hours need somewhere to send callers; destinations must exist and lead nowhere in a
    circle, and numbers must be within the number policy; and the queues emergencies go to are
    never closed or diverted."""
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
        for path, destination in destinations(queue):
            if number_exceptions is not None and destination and destination.number:
                refused = outside_policy(destination.number, number_exceptions)
                if refused:
                    problems.append(f"queues.{name}.{path}.number: {refused}")
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


def destinations(queue: QueueRule) -> list[tuple[str, Destination | None]]:
    """A queue's closed-hours and overflow destinations, each with its path in the queue."""
    return [("closed", queue.closed)] + [
        (f"overflow.{index}.to", overflow.to) for index, overflow in enumerate(queue.overflow)
    ]


def number_problems(rules: RoutingTable, number_exceptions: frozenset[str]) -> list[str]:
    """The destinations outside the number policy, each with its path: checked again when a
    stored version is activated, since it may have been kept before the policy (or before a
    change to NUMBER_POLICY_EXCEPTIONS)."""
    return [
        f"queues.{name}.{path}.number: {refused}"
        for name, queue in sorted(rules.queues.items())
        for path, destination in destinations(queue)
        if destination is not None
        and destination.number is not None
        and (refused := outside_policy(destination.number, number_exceptions))
    ]
