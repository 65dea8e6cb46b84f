"""What-if runs of the simulator asked for by supervisors: what was asked, the progress of the
worker job running it, and the comparison it made. The runs themselves happen elsewhere
(`lifeline.simulation`), each on a Redis of its own: nothing here touches the floor."""

from __future__ import annotations

import json
import secrets
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

import redis
from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis.asyncio import Redis

from routing import keys

KEPT = 50  # listed, newest first
# A run that has said nothing for this long (queued with no worker to take it, or its worker
# gone mid-run) is reported as failed, not left "running" for ever.
STALE_SECONDS = 30 * 60


class WhatIf(BaseModel):
    """The day to try a version on: the callers of a packaged demand profile (`calls`:
    "profile") or the very calls Lifeline recorded that day ("recorded"), with the packaged
    rota; a date (its day of the week sets a profile's demand), demand times `factor` (a
    recorded day is replayed as it was: 1), the first `hours` of the day, and the seed."""

    model_config = ConfigDict(extra="forbid")

    profile: Literal["contract-area"] = "contract-area"
    calls: Literal["profile", "recorded"] = "profile"
    day: Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))] = date(2026, 1, 5)
    factor: Annotated[float, Field(gt=0, le=20)] = 1.0
    hours: Annotated[int, Field(ge=1, le=24)] = 24
    seed: Annotated[int, Field(ge=0, le=2**31)] = 1

    @model_validator(mode="after")
    def _recorded_as_it_was(self) -> WhatIf:
        if self.calls == "recorded" and self.factor != 1:
            raise ValueError("a recorded day is replayed as it was: factor must be 1")
        return self


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


LIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class SimulationRun(BaseModel):
    """One what-if: `request` as asked, `progress` from 0 to 1, `comparison` once done (the
    simulator's, as JSON), `error` if it failed."""

    id: str
    status: RunStatus
    version: int
    requested_by: str
    created: float
    progress: float = 0.0
    request: dict[str, Any] = {}
    comparison: dict[str, Any] | None = None
    error: str = ""


class Simulations:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(
        self, version: int, requested_by: str, request: dict[str, Any], now: float
    ) -> SimulationRun:
        run = SimulationRun(
            id=secrets.token_hex(8),
            status=RunStatus.QUEUED,
            version=version,
            requested_by=requested_by,
            created=now,
            request=request,
        )
        key = keys.simulation(run.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"run": run.model_dump_json()})
            pipe.expire(key, keys.SIMULATION_TTL_SECONDS)
            pipe.zadd(keys.SIMULATIONS, {run.id: now})
            pipe.zremrangebyscore(keys.SIMULATIONS, "-inf", now - keys.SIMULATION_TTL_SECONDS)
            await pipe.execute()
        return run

    async def get(self, simulation_id: str, now: float | None = None) -> SimulationRun | None:
        """The run; with `now`, one silent for STALE_SECONDS is reported as failed."""
        fields = cast(dict[str, str], await self.redis.hgetall(keys.simulation(simulation_id)))
        if not fields:
            return None
        run = SimulationRun.model_validate_json(fields["run"])
        update: dict[str, Any] = {}
        if "status" in fields:
            update["status"] = RunStatus(fields["status"])
        if "progress" in fields:
            update["progress"] = float(fields["progress"])
        if "comparison" in fields:
            update["comparison"] = json.loads(fields["comparison"])
        if "error" in fields:
            update["error"] = fields["error"]
        run = run.model_copy(update=update)
        heard = float(fields.get("updated", run.created))
        if now is not None and run.status in LIVE and now - heard > STALE_SECONDS:
            said = (
                "no worker of the simulations pool took it"
                if run.status is RunStatus.QUEUED
                else ("it stopped reporting progress (its worker may have stopped)")
            )
            return run.model_copy(
                update={"status": RunStatus.FAILED, "error": f"{said}; ask again"}
            )
        return run

    async def latest(self, now: float | None = None) -> list[SimulationRun]:
        ids = await self.redis.zrevrange(keys.SIMULATIONS, 0, KEPT - 1)
        runs = [await self.get(str(simulation_id), now) for simulation_id in ids]
        return [run for run in runs if run is not None]

    async def done(self, simulation_id: str, comparison: str) -> None:
        await self.redis.hset(
            keys.simulation(simulation_id),
            mapping={"status": RunStatus.DONE, "progress": "1", "comparison": comparison},
        )

    @staticmethod
    def progressed(client: redis.Redis, simulation_id: str, share: float, now: float) -> None:
        """The run's worker is `share` of the way (0 to 1) at `now`: it is running, and heard
        from. Synchronous: said from inside the simulation's own event loop."""
        client.hset(
            keys.simulation(simulation_id),
            mapping={"status": RunStatus.RUNNING, "progress": f"{share:.3f}", "updated": repr(now)},
        )

    async def failed(self, simulation_id: str, error: str) -> None:
        await self.redis.hset(
            keys.simulation(simulation_id), mapping={"status": RunStatus.FAILED, "error": error}
        )
