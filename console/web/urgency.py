"""How the consoles name an urgency of the rule set's, with its target: "Immediate (within 20
minutes)", so that nobody has to remember what a name promises."""

from __future__ import annotations

from routing.rules import OnwardRule


def within(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'' if hours == 1 else 's'}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def named(urgency: str) -> str:
    return urgency.replace("_", " ").capitalize()


def label(onward: OnwardRule, urgency: str) -> str:
    """With its target in the rules given; an urgency they no longer have, by its name alone."""
    level = onward.urgencies.get(urgency)
    if level is None:
        return named(urgency)
    return f"{named(urgency)} (within {within(level.target_seconds)})"


def labels(onward: OnwardRule) -> dict[str, str]:
    """Every urgency a handler may choose, the most urgent first."""
    order = sorted(
        onward.urgencies,
        key=lambda name: (onward.urgencies[name].priority, onward.urgencies[name].target_seconds),
    )
    return {name: label(onward, name) for name in order}
