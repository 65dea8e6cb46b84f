"""One call leg: its identity, status, inputs, event log, and how it is interrupted."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sim.phone.clock import SimTime
from sim.phone.errors import CallError
from sim.phone.inputs import InputSource
from sim.phone.record import EventLog
from sim.phone.statuses import CallStatus, Direction
from sim.phone.steps import (
    Ending,
    Fetch,
    HangupRequest,
    HungUp,
    Interrupt,
    NotAnswered,
    RedirectRequest,
    Rejected,
)
from sim.phone.timestamps import iso

API_VERSION = "2010-04-01"
T = TypeVar("T")


class StatusNotifier(Protocol):
    def notify(self, leg: Leg, event: str) -> None:
        """A call progress event happened (initiated, ringing, answered, completed)."""
        ...


@dataclass(frozen=True)
class CallbackSpec:
    url: str
    method: str
    events: frozenset[str]


@dataclass
class QueueStay:
    name: str
    sid: str
    joined: float  # sim seconds
    action: Fetch | None


@dataclass
class DialAttempt:
    leg: Leg
    rung: asyncio.Future[CallStatus | None]  # None: answered; else why it never was
    connected: asyncio.Future[bool]  # bridged, or declined in the whisper
    released: asyncio.Event = field(default_factory=asyncio.Event)  # redirected: on its own now


@dataclass
class DialState:
    attempts: list[DialAttempt]
    action: Fetch | None
    winner: DialAttempt | None = None
    bridged: bool = False
    results: dict[str, str] = field(default_factory=dict)


class Interrupted(Exception):
    def __init__(self, interrupt: Interrupt) -> None:
        super().__init__(type(interrupt).__name__)
        self.interrupt = interrupt


class Leg:
    def __init__(
        self,
        *,
        sid: str,
        account_sid: str,
        direction: Direction,
        from_: str,
        to: str,
        time: SimTime,
        notifier: StatusNotifier,
        inputs: InputSource,
        parent: Leg | None = None,
        fallback: Fetch | None = None,
        callbacks: CallbackSpec | None = None,
        talk_seconds: float | None = None,
        status: CallStatus = CallStatus.RINGING,
    ) -> None:
        self.sid = sid
        self.account_sid = account_sid
        self.direction = direction
        self.from_ = from_
        self.to = to
        self.parent = parent
        self.parent_sid = parent.sid if parent is not None else None
        self.inputs = inputs
        self.fallback = fallback
        self.callbacks = callbacks
        self.talk_seconds = talk_seconds
        self.status = status
        self.answered_by: str | None = None
        self.children: list[str] = []
        self.queue_stay: QueueStay | None = None
        self.dial: DialState | None = None
        self.callback_sequence = 0
        self.log = EventLog(time)
        self.ended = asyncio.Event()
        self._time = time
        self._notifier = notifier
        self._pending: Interrupt | None = None
        self._interrupted = asyncio.Event()
        self.created_wall = time.wall()
        self.started_wall: float | None = None  # dialled (left the account's queue): Twilio's start
        self.answered_wall: float | None = None
        self.ended_wall: float | None = None
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        self.log.emit("status", status=status.value)

    # -- what Twilio tells the application about this leg -------------------------------------

    def standard_params(self) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": self.status.value,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction.value,
            "From": self.from_,
            "To": self.to,
        }
        if self.parent_sid is not None:
            params["ParentCallSid"] = self.parent_sid
        return params

    @property
    def answered(self) -> bool:
        return self._answered_at is not None

    @property
    def is_ended(self) -> bool:
        return self.ended.is_set()

    def duration(self) -> int:
        """Whole simulated seconds from answer to hang-up (so far, while live)."""
        if self._answered_at is None:
            return 0
        end = self._ended_at if self._ended_at is not None else self._time.now()
        return round(end - self._answered_at)

    def record_error(self, error: CallError, kind: str) -> None:
        """An `error` event here, and on the parent leg too: its application caused it."""
        fields: dict[str, object] = {"code": error.code, "message": error.message}
        fields.update(url=error.url, kind=kind)
        self.log.emit("error", **fields)
        if self.parent is not None:
            self.parent.log.emit("error", **fields, call_sid=self.sid)
        error.recorded = True

    # -- status changes -----------------------------------------------------------------------

    def initiate(self) -> None:
        self.started_wall = self._time.wall()
        self._notifier.notify(self, "initiated")

    def ring(self) -> None:
        if self.status is not CallStatus.RINGING:
            self._set_status(CallStatus.RINGING)
        self._notifier.notify(self, "ringing")

    def answer(self, answered_by: str | None = None) -> None:
        self._answered_at = self._time.now()
        self.answered_wall = self._time.wall()
        self.answered_by = answered_by
        self._set_status(CallStatus.IN_PROGRESS)
        self._notifier.notify(self, "answered")

    def hanging_up(self) -> None:
        """The line is gone: requests made while tidying up already say CallStatus=completed."""
        if self.answered:
            self._stop(CallStatus.COMPLETED)

    def finish(self, ending: Ending) -> None:
        if self.is_ended:
            return
        by: str | None
        if isinstance(ending, NotAnswered):
            status, by = ending.status, None
        elif isinstance(ending, Rejected):
            status = CallStatus.BUSY if ending.reason == "busy" else CallStatus.NO_ANSWER
            by = "app"
        else:
            by = ending.by if isinstance(ending, HungUp) else "app"
            status = self._ended_status(by)
        self._stop(status)
        if by is not None:
            self.log.emit("hangup", by=by)
        self.log.emit("status", status=status.value)
        self._notifier.notify(self, "completed")
        self.ended.set()
        self.log.wake()

    def _ended_status(self, by: str) -> CallStatus:
        if self.answered:
            return CallStatus.COMPLETED
        if by == "callee":
            return CallStatus.BUSY
        if by in {"api", "caller"}:
            return CallStatus.CANCELED
        return CallStatus.COMPLETED

    def _stop(self, status: CallStatus) -> None:
        self.status = status
        if self._ended_at is None:
            self._ended_at = self._time.now()
            self.ended_wall = self._time.wall()

    def _set_status(self, status: CallStatus) -> None:
        self.status = status
        self.log.emit("status", status=status.value)

    # -- interruptions: REST redirects and hang-ups from anyone -------------------------------

    def interrupt(self, request: Interrupt) -> bool:
        """Ask whatever runs this leg to stop; a pending hang-up is never replaced by a redirect."""
        if self.is_ended:
            return False
        if isinstance(self._pending, HangupRequest) and isinstance(request, RedirectRequest):
            return True
        self._pending = request
        self._interrupted.set()
        return True

    async def guarded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` until it finishes or the leg is interrupted (then cancel it, raise)."""
        if self._pending is not None:
            coro.close()
            raise Interrupted(self._take_pending())
        task = asyncio.ensure_future(coro)
        waiter = asyncio.ensure_future(self._interrupted.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled():
            return task.result()  # finished first (a pending interrupt waits for the next run)
        if self._pending is None:
            raise asyncio.CancelledError
        raise Interrupted(self._take_pending())

    def _take_pending(self) -> Interrupt:
        pending = self._pending
        assert pending is not None
        self._pending = None
        self._interrupted.clear()
        return pending

    # -- views --------------------------------------------------------------------------------

    def summary(self) -> dict[str, object]:
        return {
            "sid": self.sid,
            "from": self.from_,
            "to": self.to,
            "direction": self.direction.value,
            "status": self.status.value,
            "parent_sid": self.parent_sid,
            "answered_by": self.answered_by,
            "duration": self.duration(),
            "created_at": iso(self.created_wall),
            "ended": self.is_ended,
        }

    def detail(self, queue: dict[str, object] | None) -> dict[str, object]:
        return {
            **self.summary(),
            "children": list(self.children),
            "queue": queue,
            "pending_inputs": self.inputs.remaining,
            "events": self.log.events,
        }
