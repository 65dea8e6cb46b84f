"""REST requests held by a `hold` fault until the control API releases them: a test can act in
the moment between a request and its effect, or between the effect and its answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from itertools import count


@dataclass
class Held:
    id: int
    stage: str
    method: str
    path: str
    released: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False

    def view(self) -> dict[str, object]:
        return {"id": self.id, "stage": self.stage, "method": self.method, "path": self.path}


class Holds:
    def __init__(self) -> None:
        self._held: dict[int, Held] = {}
        self._ids = count(1)

    async def wait(self, stage: str, method: str, path: str) -> bool:
        """Hold a request until it is released; True if it was dropped instead."""
        held = Held(id=next(self._ids), stage=stage, method=method, path=path)
        self._held[held.id] = held
        try:
            await held.released.wait()
        finally:
            self._held.pop(held.id, None)
        return held.dropped

    def held(self) -> list[dict[str, object]]:
        return [held.view() for held in self._held.values()]

    def release(self, drop: bool) -> int:
        """Let every held request go on (`drop`: those held before taking effect never take
        it); returns how many there were."""
        waiting = list(self._held.values())
        for held in waiting:
            held.dropped = drop and held.stage == "request"
            held.released.set()
        return len(waiting)
