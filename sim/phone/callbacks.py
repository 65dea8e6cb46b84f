"""Status callbacks: in order per leg, in the background; doubled, reordered or dropped on
demand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sim.phone.clock import SimTime
from sim.phone.errors import CallError
from sim.phone.faults import Faults
from sim.phone.leg import Leg
from sim.phone.tasks import TaskSet
from sim.phone.timestamps import rfc2822
from sim.phone.webhooks import Webhooks

EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


@dataclass(frozen=True)
class _Delivery:
    url: str
    method: str
    params: dict[str, str]


class StatusCallbacks:
    def __init__(self, webhooks: Webhooks, faults: Faults, tasks: TaskSet, time: SimTime) -> None:
        self._webhooks = webhooks
        self._time = time
        self._faults = faults
        self._tasks = tasks
        self._queues: dict[str, asyncio.Queue[_Delivery | None]] = {}
        self._held: dict[str, list[_Delivery]] = {}

    def notify(self, leg: Leg, event: str) -> None:
        spec = leg.callbacks
        if spec is None or event not in spec.events:
            return
        final = event == "completed"
        params = leg.standard_params()
        params["CallStatus"] = EVENT_STATUS.get(event, leg.status.value)
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = str(leg.callback_sequence)
        params["Timestamp"] = rfc2822(self._time.wall())
        leg.callback_sequence += 1
        if final:
            params["CallDuration"] = str(leg.duration())
        if leg.answered_by is not None:
            params["AnsweredBy"] = leg.answered_by
        delivery = _Delivery(spec.url, spec.method, params)
        fault = self._faults.for_callbacks(leg.sid)
        if fault is not None and fault.drop:
            # Lost, as Twilio loses one it could not deliver: never sent again.
            if final:
                self._held.pop(leg.sid, None)
                if leg.sid in self._queues:
                    self._queues[leg.sid].put_nowait(None)
            return
        copies = [delivery, delivery] if fault is not None and fault.duplicate else [delivery]
        if fault is not None and fault.out_of_order and not final:
            self._held.setdefault(leg.sid, []).extend(copies)
            return
        queue = self._queue_for(leg)
        for copy in copies:
            queue.put_nowait(copy)
        if final:
            for held in self._held.pop(leg.sid, []):
                queue.put_nowait(held)
            queue.put_nowait(None)

    def clear(self) -> None:
        self._queues.clear()
        self._held.clear()

    def _queue_for(self, leg: Leg) -> asyncio.Queue[_Delivery | None]:
        queue = self._queues.get(leg.sid)
        if queue is None:
            queue = self._queues[leg.sid] = asyncio.Queue()
            self._tasks.spawn(self._deliver(leg, queue), name=f"status-callbacks-{leg.sid}")
        return queue

    async def _deliver(self, leg: Leg, queue: asyncio.Queue[_Delivery | None]) -> None:
        try:
            while (item := await queue.get()) is not None:
                try:
                    await self._webhooks.request(
                        leg.log, item.url, item.method, item.params, "status"
                    )
                except CallError as error:
                    leg.record_error(error, "status")
        finally:
            if self._queues.get(leg.sid) is queue:
                del self._queues[leg.sid]
