"""What TwiML execution yields: the next document to fetch, or how the leg's script ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.phone.statuses import CallStatus


@dataclass(frozen=True)
class Fetch:
    """Request `url` for the next document; `params` go on top of the standard ones."""

    url: str
    method: str
    kind: str
    params: Mapping[str, str] = field(default_factory=dict)

    def with_params(self, params: Mapping[str, str]) -> Fetch:
        return Fetch(self.url, self.method, self.kind, {**self.params, **params})


@dataclass(frozen=True)
class Inline:
    """TwiML given directly (the REST API's `Twiml` parameter)."""

    twiml: str


Step = Fetch | Inline


@dataclass(frozen=True)
class Next:
    step: Step


@dataclass(frozen=True)
class DocumentEnded:
    pass


@dataclass(frozen=True)
class HungUp:
    by: str  # caller | callee | app | api | error


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class NotAnswered:
    status: CallStatus


@dataclass(frozen=True)
class Left:
    """`<Leave/>` ran in a queue's wait document."""


Outcome = Next | DocumentEnded | HungUp | Rejected | NotAnswered | Left
Ending = DocumentEnded | HungUp | Rejected | NotAnswered | Left


@dataclass(frozen=True)
class RedirectRequest:
    step: Step


@dataclass(frozen=True)
class HangupRequest:
    by: str


Interrupt = RedirectRequest | HangupRequest
