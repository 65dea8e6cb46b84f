"""What the outage drill makes of its calls: how each was routed, whether as it should be while
degraded, and the report it prints at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from routing.models import case_id_for


@dataclass(frozen=True)
class Caller:
    """A simulated caller: what they call about, the line they ring, the keys they press in turn."""

    kind: str
    line: str
    keys: tuple[str, ...]
    emergency: bool = False
    welsh: bool = False
    takes_callback: bool = False


class Routed(StrEnum):
    DISPATCH_AT_ONCE = "to the dispatch line at once"
    DISPATCH_FROM_QUEUE = "to the dispatch line from the queue"
    HANDLER = "to a handler"
    CALLBACK = "callback booked"
    QUEUED = "queued"
    NOWHERE = "not routed"


JOURNALED = (Routed.DISPATCH_AT_ONCE, Routed.DISPATCH_FROM_QUEUE, Routed.CALLBACK)


@dataclass
class PlacedCall:
    caller: Caller
    sid: str
    handler_free: bool  # when the call was placed
    routed: Routed = Routed.NOWHERE
    heard_message: bool = False
    errors: int = 0  # application errors the caller's leg met

    @property
    def case_id(self) -> str:
        return case_id_for(self.sid)

    def problem(self) -> str:
        """How the call was not routed as it should be while degraded ("" when it was)."""
        if self.routed is Routed.NOWHERE:
            return "not routed"
        if self.errors:
            return f"{self.errors} application error(s)"
        if self.caller.emergency:
            if not self.handler_free and self.routed is not Routed.DISPATCH_AT_ONCE:
                return "expected the dispatch line at once: no handler was free"
            if self.routed in (Routed.QUEUED, Routed.CALLBACK):
                return "expected a handler or the dispatch line"
            return ""
        return "" if self.heard_message else "did not hear the outage message"

    def line(self) -> str:
        heard = ", heard the outage message" if self.heard_message else ""
        problem = f" ({self.problem()})" if self.problem() else ""
        return f"    {self.caller.kind:<27}{self.routed}{heard}{problem}"


def settled(caller: Caller, detail: dict[str, Any]) -> bool:
    """Whether the call has gone as far as the drill waits for: put through or ended; queued,
    for a caller who is not an emergency and does not wait for the callback offer."""
    types = {event["type"] for event in detail["events"]}
    if detail["ended"] or "dial" in types:
        return True
    return "enqueue" in types and not (caller.emergency or caller.takes_callback)


def routed(events: list[dict[str, Any]], dispatch_number: str, callback_booked: bool) -> Routed:
    """How the call was routed, from what the caller's leg did."""
    if callback_booked:
        return Routed.CALLBACK
    queued = False
    for event in events:
        if event["type"] == "enqueue":
            queued = True
        if event["type"] == "dial" and dispatch_number in event.get("targets", []):
            return Routed.DISPATCH_FROM_QUEUE if queued else Routed.DISPATCH_AT_ONCE
        if event["type"] == "dial":
            return Routed.HANDLER
    return Routed.QUEUED if queued else Routed.NOWHERE


def heard(events: list[dict[str, Any]], message: str) -> bool:
    said = " ".join(" ".join(str(e["text"]).split()) for e in events if e["type"] == "say")
    return " ".join(message.split()) in said


@dataclass
class DrillReport:
    asked_seconds: float = 0.0
    degraded_after: float | None = None
    outage_lasted: float | None = None
    normal_after: float | None = None
    replayed_after: float | None = None
    calls: list[PlacedCall] = field(default_factory=list)
    wrap_ups: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)  # the drill's calls' journal
    journal: dict[str, Any] = field(default_factory=dict)  # the whole journal's progress

    def lines(self) -> list[str]:
        def seconds(value: float | None) -> str:
            return "not reached" if value is None else f"{value:.1f} s"

        routed_well = sum(1 for call in self.calls if not call.problem())
        kinds = Counter(str(entry["kind"]) for entry in self.entries)
        status = Counter(str(entry["status"]) for entry in self.entries)
        replayed = status["delivered"] + status["duplicate"]
        by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        by_kind = f" ({by_kind})" if by_kind else ""
        return [
            "Outage drill report",
            f"  time to degraded mode        {seconds(self.degraded_after)}",
            f"  outage lasted                {seconds(self.outage_lasted)} "
            f"(asked for {self.asked_seconds:g} s)",
            f"  time back to normal          {seconds(self.normal_after)} (after it came back)",
            f"  time to replay the journal   {seconds(self.replayed_after)} (after normal)",
            f"  calls placed while degraded  {len(self.calls)}",
            *(call.line() for call in self.calls),
            f"  calls routed as expected     {routed_well} of {len(self.calls)}",
            f"  handlers' wrap-ups           {self.wrap_ups}",
            f"  journal entries captured     {len(self.entries)}{by_kind}",
            f"  replayed                     {replayed}: {status['delivered']} delivered, "
            f"{status['duplicate']} already there",
            f"  failed (for a person)        {status['failed']}",
            f"  still pending                {status['pending']} "
            f"({self.journal.get('pending', 'unknown')} in the whole journal)",
        ]
