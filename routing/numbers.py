"""Telephone numbers a caller keys in, and how numbers are read back to them. Which numbers
Lifeline may dial is the number policy (config/number_policy.py)."""

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
