"""Where in a rule set document each problem is: the validator names a dotted path
("routes.3.priority: ..."), and the document's YAML nodes know their lines."""

from __future__ import annotations

import yaml
from pydantic import BaseModel
from yaml.nodes import MappingNode, Node, SequenceNode


class Located(BaseModel):
    line: int | None  # 1-based; None when the problem belongs to no line
    path: str
    message: str


def split(problem: str) -> tuple[str, str]:
    path, separator, message = problem.partition(": ")
    if not separator or " " in path:
        return "", problem
    return path, message


def syntax_error_line(document: str) -> int | None:
    try:
        yaml.safe_load(document)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return mark.line + 1 if mark else None
    except yaml.YAMLError:
        return None
    return None


def line_of(document: str, path: str) -> int | None:
    """The line of the deepest node on `path` that the document has (a missing field points at
    its parent), or None if the document is not YAML at all."""
    try:
        node: Node | None = yaml.compose(document, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return syntax_error_line(document)
    if node is None:
        return None
    line = node.start_mark.line
    for part in path.split(".") if path else []:
        if isinstance(node, MappingNode):
            found = next(
                ((key, value) for key, value in node.value if str(key.value) == part), None
            )
            if found is None:
                break
            line, node = found[0].start_mark.line, found[1]
        elif isinstance(node, SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line
        else:
            break
    return line + 1


def locate(document: str, problems: list[str]) -> list[Located]:
    located = []
    for problem in problems:
        path, message = split(problem)
        if not path:
            line = None
        elif path == "document":
            line = syntax_error_line(document)
        else:
            line = line_of(document, path)
        located.append(Located(line=line, path=path, message=message))
    return sorted(located, key=lambda item: (item.line is None, item.line or 0))
