"""Faults switched at run time: the FHIR port up, down (refusing connections), slow, failing,
flapping between up and failing, or answering every transaction as a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sim.clinical.resources import instant

Wall = Callable[[], float]


class Mode(StrEnum):
    UP = "up"
    DOWN = "down"
    SLOW = "slow"
    ERRORS = "errors"
    FLAPPING = "flapping"
    DUPLICATES = "duplicates"


class FaultSetting(BaseModel):
    """Body of `PUT /control/fault`; the two durations matter only to their own mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode
    slow_seconds: float = Field(default=10.0, gt=0, le=600)
    flap_period_seconds: float = Field(default=5.0, gt=0, le=3600)


class Faults:
    """The fault in force; `wall` is the clock flapping is timed by (injectable for tests)."""

    def __init__(self, wall: Wall) -> None:
        self._wall = wall
        self.setting = FaultSetting(mode=Mode.UP)
        self.since = wall()
        self._changed = asyncio.Event()

    def set(self, setting: FaultSetting) -> None:
        self.setting = setting
        self.since = self._wall()
        # A change (going down above all) is not held up by answers `slow` is holding back.
        self.release()

    def release(self) -> None:
        """Let every answer held by `slow` go now."""
        self._changed.set()
        self._changed = asyncio.Event()

    def now(self) -> Mode:
        """The mode in force at this moment: flapping is up, then errors, one period each."""
        if self.setting.mode is not Mode.FLAPPING:
            return self.setting.mode
        phase = int((self._wall() - self.since) // self.setting.flap_period_seconds)
        return Mode.UP if phase % 2 == 0 else Mode.ERRORS

    async def hold(self) -> None:
        """Wait `slow_seconds` (real time), or until the setting changes."""
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.setting.slow_seconds):
                await changed.wait()

    def snapshot(self) -> dict[str, object]:
        return {
            **self.setting.model_dump(mode="json"),
            "since": instant(self.since),
            "now": self.now().value,
        }
