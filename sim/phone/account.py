"""The account's outbound calling rate: Twilio dials at most so many calls a second and holds
the excess in its queue (`queued`, no start time yet), in order."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AccountSettings(BaseModel):
    """Body of `PUT /sim/account`; `calls_per_second` in simulated time, None for no limit."""

    model_config = ConfigDict(extra="forbid")

    calls_per_second: float | None = Field(default=None, gt=0, le=1000)


class DialQueue:
    """Each call created is given the next free dialling moment, 1 / rate after the one before."""

    def __init__(self) -> None:
        self.settings = AccountSettings()
        self._next = 0.0

    def configure(self, settings: AccountSettings) -> None:
        self.settings = settings
        self._next = 0.0

    def wait_for(self, now: float) -> float:
        """Simulated seconds a call created at `now` stays queued before it is dialled."""
        rate = self.settings.calls_per_second
        if rate is None:
            return 0.0
        moment = max(now, self._next)
        self._next = moment + 1 / rate
        return moment - now
