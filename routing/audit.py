"""The audit log: who did what, when, to what; kept in a durable Redis stream."""

from __future__ import annotations

import json
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.replicated import replicated

AUDIT_MAXLEN = 1_000_000  # years of supervisor actions; trimmed approximately, oldest first


class AuditEntry(BaseModel):
    id: str
    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, object]


def entry(actor: str, action: str, target: str, now: float, **detail: object) -> dict[str, str]:
    """An audit record's fields, as the stream keeps them."""
    return {
        "at": repr(now),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": json.dumps(detail, default=str),
    }


class Audit:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(
        self, actor: str, action: str, target: str, now: float, **detail: object
    ) -> str:
        fields = entry(actor, action, target, now, **detail)
        entry_id = await replicated(
            self.redis,
            "audit",
            lambda client: client.xadd(keys.AUDIT, fields, maxlen=AUDIT_MAXLEN, approximate=True),
        )
        return str(entry_id)

    async def latest(self, count: int = 100, action: str | None = None) -> list[AuditEntry]:
        rows = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrevrange(keys.AUDIT, count=count if action is None else count * 10),
        )
        entries = [
            AuditEntry(
                id=str(entry_id),
                at=float(fields["at"]),
                actor=fields["actor"],
                action=fields["action"],
                target=fields["target"],
                detail=json.loads(fields["detail"]),
            )
            for entry_id, fields in rows
        ]
        if action is not None:
            entries = [entry for entry in entries if entry.action == action]
        return entries[:count]
