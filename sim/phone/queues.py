"""Named call queues (`<Enqueue>`): members in arrival order, one QueueSid per name."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.phone.ids import new_sid

MAX_QUEUE_SIZE = 1000


@dataclass
class CallQueue:
    name: str
    sid: str
    members: dict[str, float] = field(default_factory=dict)  # call sid -> joined (sim seconds)


class Queues:
    def __init__(self) -> None:
        self._queues: dict[str, CallQueue] = {}

    def join(self, name: str, call_sid: str, now: float) -> CallQueue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = CallQueue(name=name, sid=new_sid("QU"))
        queue.members[call_sid] = now
        return queue

    def leave(self, name: str, call_sid: str) -> None:
        queue = self._queues.get(name)
        if queue is not None:
            queue.members.pop(call_sid, None)

    def position(self, name: str, call_sid: str) -> int:
        """1-based place in the queue; 0 when not in it."""
        members = list(self._queues[name].members) if name in self._queues else []
        return members.index(call_sid) + 1 if call_sid in members else 0

    def wait_params(self, name: str, call_sid: str, now: float) -> dict[str, str]:
        """What Twilio adds to a waitUrl request."""
        queue = self._queues[name]
        waits = [now - joined for joined in queue.members.values()]
        average = sum(waits) / len(waits) if waits else 0.0
        joined = queue.members.get(call_sid, now)
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(self.position(name, call_sid)),
            "QueueTime": str(int(now - joined)),
            "AvgQueueTime": str(int(average)),
            "CurrentQueueSize": str(len(queue.members)),
            "MaxQueueSize": str(MAX_QUEUE_SIZE),
        }

    def snapshot(self, now: float) -> list[dict[str, object]]:
        return [
            {
                "name": queue.name,
                "sid": queue.sid,
                "size": len(queue.members),
                "members": [
                    {"sid": sid, "position": index + 1, "waited": round(now - joined, 3)}
                    for index, (sid, joined) in enumerate(queue.members.items())
                ],
            }
            for queue in self._queues.values()
        ]

    def clear(self) -> None:
        self._queues.clear()
