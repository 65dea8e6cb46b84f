"""Path parameters Lifeline's routes read. A version number is at most nine digits: Starlette's
`int` takes any run of digits and calls `int()` on it while matching routes, and one of over
4,300 digits raises there, before any sign-in check (a 500 for anyone who asks)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class VersionNumber(Convertor[int]):
    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("version", VersionNumber())
VERSION = "{number:version}"  # a version number in a route's path
