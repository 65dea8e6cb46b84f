"""Injected faults: REST answers 429/500 for the next N requests; status callbacks doubled or
reordered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RestFault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[429, 500]
    count: int = Field(ge=1, le=10_000)


class CallbackFault(BaseModel):
    """`duplicate`: every callback twice; `out_of_order`: the final one before the others."""

    model_config = ConfigDict(extra="forbid")

    duplicate: bool = False
    out_of_order: bool = False
    call_sid: str | None = None


class FaultsBody(BaseModel):
    """Body of `POST /sim/faults`; a part left out keeps its current setting."""

    model_config = ConfigDict(extra="forbid")

    rest: RestFault | None = None
    status_callbacks: CallbackFault | None = None


class Faults:
    def __init__(self) -> None:
        self._rest: RestFault | None = None
        self._callbacks: CallbackFault | None = None

    def apply(self, body: FaultsBody) -> None:
        if body.rest is not None:
            self._rest = body.rest
        if body.status_callbacks is not None:
            self._callbacks = body.status_callbacks

    def clear(self) -> None:
        self._rest = None
        self._callbacks = None

    def take_rest_fault(self) -> int | None:
        """The HTTP status the next REST request must fail with, if any (uses one up)."""
        if self._rest is None:
            return None
        status = self._rest.status
        remaining = self._rest.count - 1
        self._rest = RestFault(status=status, count=remaining) if remaining else None
        return status

    def for_callbacks(self, call_sid: str) -> CallbackFault | None:
        fault = self._callbacks
        if fault is None or fault.call_sid not in {None, call_sid}:
            return None
        return fault

    def snapshot(self) -> dict[str, object]:
        return {
            "rest": self._rest.model_dump() if self._rest else None,
            "status_callbacks": self._callbacks.model_dump() if self._callbacks else None,
        }
