"""Operational endpoints: alive, ready, and Prometheus metrics (some read live from Redis)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ivr.context import Ivr
from routing import keys
from routing.models import Priority


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    ivr: Ivr = request.state.ivr
    try:
        await ivr.calls.redis.ping()
        mode = await ivr.calls.redis.hget(keys.MODE, "mode") or "normal"
    except RedisError as error:
        return JSONResponse({"status": "not ready", "redis": str(error)}, status_code=503)
    return JSONResponse({"status": "ready", "redis": "ok", "mode": mode})


class Snapshot(Collector):
    """Figures read from Redis for one scrape: every process's calls, not just this one's."""

    def __init__(self, outcomes: dict[str, int], waiting: dict[tuple[str, Priority], int]):
        self.outcomes = outcomes
        self.waiting = waiting

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily("lifeline_calls", "Calls by outcome", labels=["outcome"])
        for outcome, count in sorted(self.outcomes.items()):
            calls.add_metric([outcome], count)
        yield calls
        waiting = GaugeMetricFamily(
            "lifeline_waiting_calls",
            "Calls waiting, by queue and priority",
            labels=["queue", "priority"],
        )
        for (queue, priority), count in sorted(self.waiting.items()):
            waiting.add_metric([queue, str(int(priority))], count)
        yield waiting


async def metrics(request: Request) -> Response:
    ivr: Ivr = request.state.ivr
    body = generate_latest(ivr.metrics.registry)
    try:
        rules = await ivr.rulebook.active()
        snapshot = Snapshot(
            await ivr.calls.outcomes(), await ivr.queues.waiting(sorted(rules.queues))
        )
        live = CollectorRegistry(auto_describe=False)
        live.register(snapshot)
        body += generate_latest(live)
    except RedisError:
        pass  # the process's own metrics still come out; the Redis ones are absent, not wrong
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
