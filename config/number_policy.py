"""The number policy: which numbers Lifeline may dial. The settings check their own numbers with it
(the dispatch line, NUMBER_POLICY_EXCEPTIONS), as the rule sets and handlers' phones are checked."""

from __future__ import annotations

import re

# The number policy: the numbers Lifeline may put a caller through to. By default UK geographic
# (01, 02), non-geographic 03 and freephone 080 numbers (NHS bodies use them) and mobiles (07),
# by the start of the national significant number (what follows +44).
_POLICY_ALLOWS = ("1", "2", "3", "80", "7")
_POLICY_REFUSES = {"70": "a personal number (070)", "76": "a pager number (076)"}


def outside_policy(number: str, exceptions: frozenset[str] = frozenset()) -> str | None:
    """Why the number policy refuses `number` (E.164), or None if Lifeline may dial it (also when
    it is one of the `exceptions`, the NUMBER_POLICY_EXCEPTIONS setting). The reason never
    repeats the number."""
    if number in exceptions:
        return None
    if not number.startswith("+44"):
        return "not a UK number: international numbers are outside the number policy"
    national = number[3:]
    if not re.fullmatch(r"[1-9][0-9]{8,9}", national):
        return "not a complete UK number"
    for start, why in _POLICY_REFUSES.items():
        if national.startswith(start):
            return f"{why}, outside the number policy"
    if not national.startswith(_POLICY_ALLOWS):
        return (
            f"a 0{national[:2]} number, outside the number policy (UK geographic 01 and 02, "
            "03, freephone 080 and mobile 07 numbers only)"
        )
    return None
