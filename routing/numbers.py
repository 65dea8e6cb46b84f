"""Telephone numbers a caller keys in, and how numbers are read back to them."""

from __future__ import annotations

import re

_UK_NUMBER = re.compile(r"^0[1-9][0-9]{8,9}$")
_NOT_CALLBACK_NUMBERS = ("0999", "0112", "0111")


def uk_number(digits: str) -> str | None:
    """Keyed-in digits as an E.164 UK number, or None if they cannot be one to call back."""
    digits = digits.strip().rstrip("#")
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    if not _UK_NUMBER.match(digits) or digits.startswith(_NOT_CALLBACK_NUMBERS):
        return None
    return "+44" + digits[1:]


def spoken_digits(number: str) -> str:
    """Digits spaced out so text-to-speech reads them one by one, in the national format."""
    national = "0" + number[3:] if number.startswith("+44") else number.lstrip("+")
    return " ".join(national)
