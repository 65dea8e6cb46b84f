"""The digest a number is known by in Redis (recognising callers, one live callback per caller
and per number called back): HMAC-SHA256 under a secret key (NUMBER_HASH_KEY), never a plain
hash, which anyone holding Redis's data could reverse by hashing every UK number."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from routing import keys

DIGEST_HEX = 32  # 128 bits: no two callers' numbers share one
KEY_BYTES = 16  # no shorter key: it must be beyond guessing, as the numbers are not


@dataclass(frozen=True)
class NumberHash:
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) < KEY_BYTES:
            raise ValueError(f"a number hash key has at least {KEY_BYTES} bytes")

    def __call__(self, number: str) -> str:
        return hmac.new(self.key, number.encode(), hashlib.sha256).hexdigest()[:DIGEST_HEX]


class NoNumberHash(Exception):
    """A store that finds callers by their number was built without the key to hash it with."""


def caller_key(numbers: NumberHash | None, number: str) -> str:
    """The caller's record. Only the stores that find callers by number are given the key; those
    that only move calls and callbacks along (workers, sweeps) are built without it."""
    return keys.caller(_digest(numbers, number))


def callback_to_key(numbers: NumberHash | None, number: str) -> str:
    """Where the live callback to a number is found (one per number called back)."""
    return keys.callback_to(_digest(numbers, number))


def _digest(numbers: NumberHash | None, number: str) -> str:
    if numbers is None:
        raise NoNumberHash("this store was built without a NumberHash")
    return numbers(number)
