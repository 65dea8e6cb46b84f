"""Which rule set is in force. For now the packaged default; versions in Redis come later."""

from __future__ import annotations

from routing.rules import RuleSet


class RuleBook:
    def __init__(self, default: RuleSet) -> None:
        self._default = default

    async def active(self) -> RuleSet:
        return self._default
