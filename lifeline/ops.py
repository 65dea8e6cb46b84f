"""Operational endpoints: alive, ready, and Prometheus metrics (some read live from Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.context import Console
from ivr.context import Ivr
from routing import keys
from routing.handlers import HandlerState
from routing.journal import Progress
from routing.models import Priority
from routing.stats import Figures, Waiting, Window, waiting_now


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


FIGURES = {
    "offered": ("lifeline_queue_offered", "Calls that entered the queue"),
    "answered": ("lifeline_queue_answered", "Calls answered by a handler"),
    "abandoned": ("lifeline_queue_abandoned", "Callers who hung up while waiting"),
    "abandoned_after_30s": ("lifeline_queue_abandoned_after_30s", "Abandoned after 30 s"),
    "service_level": ("lifeline_queue_service_level", "Share answered within 60 s"),
    "average_speed_of_answer": ("lifeline_queue_average_answer_seconds", "Average speed of answer"),
    "longest_wait": ("lifeline_queue_longest_wait_seconds", "Longest wait that ended"),
    "p1_average_time_to_reach": (
        "lifeline_p1_average_time_to_reach_seconds",
        "Priority 1: time to a handler or the dispatch line",
    ),
}


@dataclass(eq=False)  # registries keep collectors in sets
class Snapshot(Collector):
    """Figures read from Redis for one scrape: every process's calls, not just this one's."""

    outcomes: dict[str, int]
    queues: list[str]
    waiting: list[Waiting]  # the queue and priority pairs with anyone waiting
    handlers: dict[HandlerState, int]
    windows: dict[Window, list[Figures]]
    degraded: bool
    journal: Progress

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
        counts = {(row.queue, row.priority): row.waiting for row in self.waiting}
        for queue in self.queues:
            for priority in Priority:
                count = counts.get((queue, int(priority)), 0)
                waiting.add_metric([queue, str(int(priority))], count)
        yield waiting
        oldest = GaugeMetricFamily(
            "lifeline_waiting_longest_seconds",
            "How long the longest-waiting caller has waited so far, by queue and priority",
            labels=["queue", "priority"],
        )
        for head in self.waiting:
            oldest.add_metric([head.queue, str(head.priority)], head.longest_wait)
        yield oldest
        handlers = GaugeMetricFamily("lifeline_handlers", "Handlers by state", labels=["state"])
        for handler_state, count in self.handlers.items():
            handlers.add_metric([handler_state.value], count)
        yield handlers
        for field_name, (name, text) in FIGURES.items():
            family = GaugeMetricFamily(name, text, labels=["queue", "priority", "window"])
            for window, rows in self.windows.items():
                for row in rows:
                    value = getattr(row, field_name)
                    if value is not None:
                        family.add_metric([row.queue, str(row.priority), window.value], value)
            yield family
        yield GaugeMetricFamily(
            "lifeline_mode_degraded", "1 while degraded (clinical system down)", int(self.degraded)
        )
        journal = GaugeMetricFamily(
            "lifeline_journal_entries", "Contingency journal entries by state", labels=["state"]
        )
        for state in ("pending", "delivered", "duplicate", "failed"):
            journal.add_metric([state], getattr(self.journal, state))
        yield journal


async def metrics(request: Request) -> Response:
    ivr: Ivr = request.state.ivr
    console: Console = request.state.console
    body = generate_latest(ivr.metrics.registry)
    try:
        rules = await ivr.rulebook.active()
        now = ivr.clock.now()
        snapshot = Snapshot(
            outcomes=await ivr.calls.outcomes(),
            queues=sorted(rules.queues),
            waiting=await waiting_now(ivr.calls.redis, sorted(rules.queues), now),
            handlers=await ivr.handlers.counts(),
            windows={window: await console.stats.window(window, now) for window in Window},
            degraded=(await console.modes.read()).degraded,
            journal=await console.journal.progress(),
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
