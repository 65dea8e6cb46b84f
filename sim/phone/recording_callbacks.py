"""Recording status callbacks: in the background (a slow application never holds a call up), in
order per recording, signed like every webhook, each request on its owner's log (the recorded
call's, or the recorded room's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from sim.phone.errors import CallError
from sim.phone.leg import CallbackSpec
from sim.phone.record import EventLog
from sim.phone.tasks import TaskSet
from sim.phone.webhooks import Webhooks

KIND = "recording-status"


class RecordingCallbacks:
    def __init__(self, webhooks: Webhooks, tasks: TaskSet) -> None:
        self._webhooks = webhooks
        self._tasks = tasks
        self._last: dict[str, asyncio.Task[None]] = {}  # by recording sid, until delivered

    def send(
        self,
        recording_sid: str,
        spec: CallbackSpec,
        params: Mapping[str, str],
        log: EventLog,
        failed: Callable[[CallError], None],
    ) -> None:
        """Request `spec.url` with `params` once the recording's earlier callback is done; the
        request goes on `log`, and a failure to `failed`."""
        previous = self._last.get(recording_sid)
        task = self._tasks.spawn(
            self._deliver(spec, dict(params), log, failed, previous),
            name=f"{KIND}-{recording_sid}",
        )
        self._last[recording_sid] = task

        def delivered(done: asyncio.Task[None]) -> None:
            if self._last.get(recording_sid) is done:
                del self._last[recording_sid]

        task.add_done_callback(delivered)

    def clear(self) -> None:
        self._last.clear()

    async def _deliver(
        self,
        spec: CallbackSpec,
        params: dict[str, str],
        log: EventLog,
        failed: Callable[[CallError], None],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self._webhooks.request(log, spec.url, spec.method, params, KIND)
        except CallError as error:
            failed(error)
