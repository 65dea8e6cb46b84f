"""Where a queue's callers go instead: when it is closed, too long, too slow, or unstaffed.

Resolution (`RuleSet.resolve`) is a pure function of the rules, the time and a snapshot of the
queues, so it runs the same in a webhook, in the hold loop and in a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing.models import QueueName

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]


class Destination(BaseModel):
    """Another queue (the caller keeps their original arrival time) or a telephone number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: QueueName | None = None
    number: E164 | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Destination:
        if (self.queue is None) == (self.number is None):
            raise ValueError("give exactly one of `queue` and `number`")
        return self


class Overflow(BaseModel):
    """A condition on the queue, and where its callers go while the condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    longer_than: Annotated[int, Field(ge=0)] | None = None
    wait_over_seconds: Annotated[int, Field(ge=0)] | None = None
    no_skilled_handler: bool = False
    to: Destination

    @model_validator(mode="after")
    def _has_a_condition(self) -> Overflow:
        if (
            self.longer_than is None
            and self.wait_over_seconds is None
            and not self.no_skilled_handler
        ):
            raise ValueError(
                "give at least one condition: longer_than, wait_over_seconds, no_skilled_handler"
            )
        return self

    def holds(self, conditions: QueueConditions) -> bool:
        return (
            (self.longer_than is not None and conditions.waiting > self.longer_than)
            or (
                self.wait_over_seconds is not None
                and (
                    conditions.estimated_wait is None
                    or conditions.estimated_wait > self.wait_over_seconds
                )
            )
            or (self.no_skilled_handler and conditions.skilled_on_duty == 0)
        )


@dataclass(frozen=True)
class QueueConditions:
    waiting: int
    estimated_wait: float | None  # None: nobody on duty to estimate from
    skilled_on_duty: int


@dataclass(frozen=True)
class ToNumber:
    """The call leaves Lifeline's queues for a telephone number (another service's line)."""

    number: str
    because: str
