"""Conference status callbacks: delivered in the background, in order per conference, each
request (and any failure) recorded on the conference's own log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sim.phone.errors import CallError
from sim.phone.leg import CallbackSpec
from sim.phone.record import EventLog
from sim.phone.tasks import TaskSet
from sim.phone.webhooks import Webhooks


@dataclass(frozen=True)
class _Delivery:
    log: EventLog
    url: str
    method: str
    params: dict[str, str]


class ConferenceCallbacks:
    def __init__(self, webhooks: Webhooks, tasks: TaskSet) -> None:
        self._webhooks = webhooks
        self._tasks = tasks
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {}
        self._delivering: set[asyncio.Task[None]] = set()

    def send(self, key: str, log: EventLog, spec: CallbackSpec, params: dict[str, str]) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            task = self._tasks.spawn(self._deliver(key, queue), name=f"conference-callbacks-{key}")
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)
        queue.put_nowait(_Delivery(log, spec.url, spec.method, params))

    async def settle(self, seconds: float) -> None:
        """Let the callbacks already owed be delivered (a reset waits for them, so that none
        reaches the application after it)."""
        if self._delivering:
            await asyncio.wait(set(self._delivering), timeout=seconds)

    def clear(self) -> None:
        self._queues.clear()

    async def _deliver(self, key: str, queue: asyncio.Queue[_Delivery]) -> None:
        try:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    await self._webhooks.request(
                        item.log, item.url, item.method, item.params, "conference-status"
                    )
                except CallError as error:
                    item.log.emit(
                        "error",
                        code=error.code,
                        message=error.message,
                        url=error.url,
                        kind="conference-status",
                    )
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
