"""Where in a rule set document each problem is: the validator names a dotted path
("routes.3.priority: ..."), and one pass over the document's YAML events finds every path's line."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from pydantic import BaseModel

from routing.rule_checks import LOADER, MAX_DEPTH


class Located(BaseModel):
    line: int | None  # 1-based; None when the problem belongs to no line
    path: str
    message: str


def split(problem: str) -> tuple[str, str]:
    path, separator, message = problem.partition(": ")
    if not separator or " " in path:
        return "", problem
    return path, message


@dataclass
class Collection:
    path: str | None  # None: inside a key that is itself a collection, so on no path
    mapping: bool
    items: int = 0  # nodes seen in it: in a mapping, the even ones are keys
    key: str | None = None


@dataclass
class Lines:
    """The 0-based line of every path the document has (a mapping's value is at its key's line),
    and of the error that stopped the parser, if one did."""

    at: dict[str, int] = field(default_factory=dict)
    error: int | None = None
    broken: bool = False

    def of(self, path: str) -> int | None:
        """The 1-based line of the deepest node on `path` the document has (a missing field
        points at its parent); the error's if the document is not YAML."""
        if self.broken:
            return None if self.error is None else self.error + 1
        parts = path.split(".") if path else []
        for end in range(len(parts), -1, -1):
            line = self.at.get(".".join(parts[:end]))
            if line is not None:
                return line + 1
        return None


def lines(document: str) -> Lines:
    """One pass over the parser's events, with a stack of its own (libyaml's composer would
    recurse), up to the deepest nesting a rule set may have."""
    found = Lines()
    stack: list[Collection] = []
    anchors: set[str] = set()
    documents = 0
    try:
        for event in yaml.parse(document, Loader=LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:  # the loader takes a single document
                    found.broken, found.error = True, line_of_event(event)
                    break
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
            if not isinstance(event, yaml.NodeEvent):
                continue
            if event.anchor is not None:
                if isinstance(event, yaml.AliasEvent) != (event.anchor in anchors):
                    # an unknown alias, or an anchor twice: the loader stops there
                    found.broken, found.error = True, line_of_event(event)
                    break
                anchors.add(event.anchor)
            path = place(stack, event, found)
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) == MAX_DEPTH:
                    break  # refused for it, so no problem is deeper (and libyaml slows down)
                stack.append(Collection(path, isinstance(event, yaml.MappingStartEvent)))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        found.broken, found.error = True, mark.line if mark else None
    except yaml.YAMLError:
        found.broken = True
    return found


def line_of_event(event: yaml.Event) -> int:
    assert event.start_mark is not None  # the parser marks every event
    return event.start_mark.line


def place(stack: list[Collection], event: yaml.NodeEvent, found: Lines) -> str | None:
    """The path of the node `event` begins (None for a key, or inside one), its line noted."""
    line = line_of_event(event)
    if not stack:
        found.at.setdefault("", line)
        return ""
    parent = stack[-1]
    index, parent.items = parent.items, parent.items + 1
    if parent.path is None:
        return None
    prefix = f"{parent.path}." if parent.path else ""
    if not parent.mapping:
        path = f"{prefix}{index}"
        found.at.setdefault(path, line)
        return path
    if index % 2 == 0:  # a key: its value's path is at the key's line
        key = event.value if isinstance(event, yaml.ScalarEvent) else None
        parent.key = key
        if key is not None:
            found.at.setdefault(f"{prefix}{key}", line)
        return None
    return None if parent.key is None else f"{prefix}{parent.key}"


def line_of(document: str, path: str) -> int | None:
    """The line of the deepest node on `path` that the document has (a missing field points at
    its parent), or the line of the error if the document is not YAML."""
    return lines(document).of(path)


def locate(document: str, problems: list[str]) -> list[Located]:
    """Every problem at its line, from one reading of the document."""
    found = lines(document)
    located = []
    for problem in problems:
        path, message = split(problem)
        if not path:
            line = None
        elif path == "document":
            line = None if found.error is None else found.error + 1
        else:
            line = found.of(path)
        located.append(Located(line=line, path=path, message=message))
    return sorted(located, key=lambda item: (item.line is None, item.line or 0))
