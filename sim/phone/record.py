"""A call's event log: ordered, timestamped in simulated seconds, with long-poll waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sim.phone.clock import SimTime

Event = dict[str, object]


class EventLog:
    def __init__(self, time: SimTime) -> None:
        self._time = time
        self._origin = time.now()
        self._events: list[Event] = []
        self._changed = asyncio.Event()

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    def elapsed(self) -> float:
        return self._time.now() - self._origin

    def emit(self, type_: str, **fields: object) -> Event:
        event: Event = {"seq": len(self._events), "t": round(self.elapsed(), 3), "type": type_}
        event.update(fields)
        self._events.append(event)
        self.wake()
        return event

    def wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def after(self, seq: int) -> list[Event]:
        return self._events[seq + 1 :] if seq >= -1 else list(self._events)

    def of_type(self, type_: str) -> list[Event]:
        return [event for event in self._events if event["type"] == type_]

    async def wait_after(self, seq: int, seconds: float, ended: Callable[[], bool]) -> list[Event]:
        """Events after `seq`, waiting up to `seconds` (real) for one, unless `ended()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = self.after(seq)
            remaining = deadline - loop.time()
            if found or ended() or remaining <= 0:
                return found
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return self.after(seq)
