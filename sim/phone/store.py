"""All legs the network knows, live and ended (the latest ended ones only, bounded)."""

from __future__ import annotations

from sim.phone.leg import Leg


class CallStore:
    def __init__(self, max_ended: int) -> None:
        self._legs: dict[str, Leg] = {}
        self._max_ended = max_ended

    def add(self, leg: Leg) -> None:
        self._legs[leg.sid] = leg
        self._prune()

    def retire(self, leg: Leg) -> None:
        """An ended leg moves to the back, so the history keeps the latest ended calls."""
        self._legs.pop(leg.sid, None)
        self.add(leg)

    def get(self, sid: str) -> Leg | None:
        return self._legs.get(sid)

    def all(self) -> list[Leg]:
        return list(self._legs.values())

    def clear(self) -> None:
        self._legs.clear()

    def _prune(self) -> None:
        ended = [sid for sid, leg in self._legs.items() if leg.is_ended]
        for sid in ended[: max(0, len(ended) - self._max_ended)]:
            del self._legs[sid]
