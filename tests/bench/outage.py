"""Time to detect a clinical-system outage, and the journal's replay rate once it is back.

Detection is compared with its floor (K failed probes at the probe interval); the replay rate
with the rate at which the same stub accepts the same bundles posted straight at it, measured in
the same run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from routing.cases import CaseKind, ClinicalCase
from routing.journal import Journal
from tests.e2e.stack import Stack
from workers.fhir import bundle_json

PROBE_INTERVAL = 1
FAILURES = 3
REPLAY_PER_SECOND = 100


@dataclass
class OutageResult:
    detection: float
    detection_floor: float
    recovery: float
    entries: int
    until_replayed: float  # from normal mode to the last entry replayed
    replay_seconds: float  # the replay job's own run, from its start to its end
    direct_per_second: float

    @property
    def replay_per_second(self) -> float:
        return self.entries / self.replay_seconds


def case(n: int, prefix: str) -> ClinicalCase:
    return ClinicalCase(
        case_id=f"{prefix}{n:05d}"[:5] + "-" + f"{n:05d}",
        kind=CaseKind.REFERRAL,
        created=datetime.now(UTC),
        caller_number=f"+4477009{n:05d}",
        locale="en-GB",
        reason="medical",
        priority=3,
    )


async def fill_journal(redis_url: str, count: int) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        journal = Journal(client)
        for n in range(count):
            kept = case(n, "JJJJJ").model_copy(update={"contingency": True})
            facts = {
                "created": kept.created.isoformat(),
                "locale": "en-GB",
                "reason": "medical",
                "priority": 3,
            }
            await journal.capture(kept.case_id, "referral", bundle_json(kept), facts, time.time())
    finally:
        await client.aclose()


def direct_rate(fhir_base_url: str, count: int) -> float:
    with httpx.Client(timeout=10, trust_env=False) as client:
        started = time.perf_counter()
        for n in range(count):
            response = client.post(
                fhir_base_url,
                json=bundle_json(case(n, "DDDDD")),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert response.status_code == 200, response.text
        return count / (time.perf_counter() - started)


def replayed(progress: dict[str, Any]) -> bool:
    # A replay run clears `finished` when it starts, so with nothing pending it means this run.
    return progress["pending"] == 0 and progress["finished"] is not None


def measure_outage(redis_url: str, logs: Path, entries: int = 200) -> OutageResult:
    env = {
        "CLINICAL_PROBE_INTERVAL_SECONDS": str(PROBE_INTERVAL),
        "CLINICAL_FAILURES_TO_DEGRADE": str(FAILURES),
        "CLINICAL_HEALTHY_PROBES_TO_RECOVER": "3",
        "CLINICAL_RECOVERY_SECONDS": "2",
        "REPLAY_PER_SECOND": str(REPLAY_PER_SECOND),
    }
    stack = Stack(redis_url, logs, with_cron=True, with_clinical=True, env=env).start()
    try:
        stack.wait_for(lambda: len(stack.api.get("/api/v1/clinical/health").json()) > 0, "a probe")
        stack.clinical("down")
        down = time.perf_counter()
        stack.wait_for(lambda: stack.mode() == "degraded", "degraded mode", 60)
        detection = time.perf_counter() - down
        asyncio.run(fill_journal(redis_url, entries))
        stack.clinical("up")
        up = time.perf_counter()
        stack.wait_for(lambda: stack.mode() == "normal", "normal mode", 60)
        recovery = time.perf_counter() - up
        normal = time.perf_counter()  # the next probe starts the replay job
        stack.wait_for(
            lambda: replayed(stack.api.get("/api/v1/journal/progress").json()),
            "the replay",
            600,
        )
        until_replayed = time.perf_counter() - normal
        progress = stack.api.get("/api/v1/journal/progress").json()
        if progress["delivered"] != entries:
            raise RuntimeError(f"the replay delivered {progress['delivered']} of {entries}")
        fhir = f"http://127.0.0.1:{stack.fhir_port}/fhir"
        direct = direct_rate(fhir, entries)
        return OutageResult(
            detection=detection,
            detection_floor=(FAILURES - 1) * PROBE_INTERVAL,
            recovery=recovery,
            entries=entries,
            until_replayed=until_replayed,
            replay_seconds=progress["finished"] - progress["started"],
            direct_per_second=direct,
        )
    finally:
        stack.stop()
