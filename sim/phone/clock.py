"""Time as a dependency: a real clock underneath, simulated seconds on top (waits are scaled)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class SimTime:
    """Simulated seconds: every wait is multiplied by `scale`; durations are reported unscaled."""

    def __init__(self, clock: Clock, scale: float) -> None:
        self.clock = clock
        self.scale = scale

    def now(self) -> float:
        """Simulated seconds on a monotonic scale (only differences mean anything)."""
        return self.clock.monotonic() / self.scale

    def wall(self) -> float:
        return self.clock.wall()

    def real(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds) * self.scale

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))
