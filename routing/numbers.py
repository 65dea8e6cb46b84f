"""Telephone numbers a caller keys in, how numbers are read back to them, and which numbers
Lifeline may dial (the number policy)."""

from __future__ import annotations

import re

_UK_NUMBER = re.compile(r"^0[1-9][0-9]{8,9}$")
# A patient's own phone: geographic (01, 02) or mobile (07, but not personal 070 or pager 076).
_CALLBACK_STARTS = ("01", "02", "07")
_NOT_CALLBACK_NUMBERS = ("070", "076")


def uk_number(digits: str) -> str | None:
    """Keyed-in digits as an E.164 UK number, or None if they cannot be a patient's own phone to
    call back (a service's 03 or 080, a premium, personal or pager number)."""
    digits = digits.strip().rstrip("#")
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    if (
        not _UK_NUMBER.match(digits)
        or not digits.startswith(_CALLBACK_STARTS)
        or digits.startswith(_NOT_CALLBACK_NUMBERS)
    ):
        return None
    return "+44" + digits[1:]


def spoken_digits(number: str) -> str:
    """Digits spaced out so text-to-speech reads them one by one, in the national format."""
    national = "0" + number[3:] if number.startswith("+44") else number.lstrip("+")
    return " ".join(national)


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
