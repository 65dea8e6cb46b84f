"""Operational endpoints: alive, ready, and Prometheus metrics (some read live from Redis)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.context import Console
from ivr.context import Ivr
from routing import keys
from routing.clinician_clock import ClinicianDay, clinician_day
from routing.figures import Report, Window, local_midnight
from routing.handlers import HandlerState
from routing.journal import Progress
from routing.models import Priority
from routing.replicated import timeouts as replication_timeouts
from routing.stats import Waiting, WaitingEmergency, emergencies_waiting, waiting_now

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    # Anyone may ask: on connections of its own, never the webhooks'.
    health: Redis = request.state.health
    try:
        await health.ping()
        mode = await health.hget(keys.MODE, "mode") or "normal"
    except RedisError as error:
        # Where Redis is and what it said are for the logs, not for whoever asks.
        log.warning("not ready: Redis did not answer (%s)", type(error).__name__)
        return JSONResponse({"status": "not ready", "redis": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "redis": "ok", "mode": mode})


def may_read_metrics(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and given.isascii()
        and hmac.compare_digest(given.encode(), token.encode())
    )


# Per queue and the priority class calls entered it at, by window; README.md "Statistics".
FIGURES = {
    "offered": ("lifeline_queue_offered", "Calls that entered the queue"),
    "answered": ("lifeline_queue_answered", "Calls answered by a handler"),
    "answered_within_60s": (
        "lifeline_queue_answered_within_60s",
        "Calls answered by a handler after waiting 60 s or less",
    ),
    "service_level": (
        "lifeline_queue_service_level",
        "Calls answered within 60 s, as a share of calls answered (NHS 111 MDS)",
    ),
    "average_speed_of_answer": (
        "lifeline_queue_average_answer_seconds",
        "Mean wait of the calls answered, from entering the queue",
    ),
    "answer_p95": (
        "lifeline_queue_answer_p95_seconds",
        "95th percentile (nearest rank) of the waits of the calls answered",
    ),
    "abandoned": (
        "lifeline_queue_abandoned",
        "Callers who hung up after entering the queue, however short the wait",
    ),
    "abandoned_after_30s": (
        "lifeline_queue_abandoned_after_30s",
        "Callers who hung up after waiting more than 30 s in the queue (NHS 111 MDS)",
    ),
    "abandoned_after_30s_rate": (
        "lifeline_queue_abandoned_after_30s_rate",
        "Abandoned after 30 s, as a share of calls offered (NHS 111 MDS)",
    ),
    "dispatched": ("lifeline_queue_dispatched", "Priority-1 calls sent to the dispatch line"),
    "diverted": (
        "lifeline_queue_diverted",
        "Calls sent to another service's number (overflow, closed hours)",
    ),
    "longest_wait": ("lifeline_queue_longest_wait_seconds", "Longest wait that ended"),
    "p1_reached": (
        "lifeline_p1_reached",
        "Priority 1: calls answered by a handler or sent to the dispatch line",
    ),
    "p1_reached_within_60s_rate": (
        "lifeline_p1_reached_within_60s_rate",
        "Priority 1: share reached within 60 s of entering the queue",
    ),
    "p1_average_time_to_reach": (
        "lifeline_p1_average_time_to_reach_seconds",
        "Priority 1: mean time to a handler or the dispatch line",
    ),
    "p1_p95_time_to_reach": (
        "lifeline_p1_p95_time_to_reach_seconds",
        "Priority 1: 95th percentile (nearest rank) of the time to a handler or the dispatch line",
    ),
    "p1_longest_time_to_reach": (
        "lifeline_p1_longest_time_to_reach_seconds",
        "Priority 1: longest time to a handler or the dispatch line",
    ),
}


# The clock to a clinician, by when the handler asked (routing.clinician_clock, docs/ONWARD.md).
CLINICIAN_FIGURES = {
    "requested": (
        "lifeline_clinician_requests",
        "Callers a handler sent on to a clinician, or arranged a clinician's callback for",
    ),
    "met": ("lifeline_clinician_met", "Of them, reached by a clinician within the target"),
    "missed": (
        "lifeline_clinician_missed",
        "Of them, reached after the target, or not reached with the target passed",
    ),
    "open": ("lifeline_clinician_open", "Of them, not reached yet, the target still running"),
    "share": (
        "lifeline_clinician_within_target_rate",
        "Met, as a share of met and missed (NHS: 90% of immediate within 20 minutes)",
    ),
}


@dataclass(eq=False)  # registries keep collectors in sets
class Snapshot(Collector):
    """Figures read from Redis for one scrape: every process's calls, not just this one's."""

    outcomes: dict[str, int]
    queues: list[str]
    waiting: list[Waiting]  # the queue and priority pairs with anyone waiting
    handlers: dict[HandlerState, int]
    windows: dict[Window, Report]
    degraded: bool
    journal: Progress
    emergencies: list[WaitingEmergency]
    clinician: ClinicianDay  # today's "immediate" requests for a clinician
    replication_timeouts: dict[str, int]  # durable writes not acknowledged by the replicas

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
        yield GaugeMetricFamily(
            "lifeline_p1_waiting",
            "Priority-1 callers not yet with a handler or the dispatch line (queued or ringing)",
            len(self.emergencies),
        )
        yield GaugeMetricFamily(
            "lifeline_p1_longest_wait_seconds",
            "How long the longest-waiting of them has waited so far (0: none waiting)",
            max((row.waited for row in self.emergencies), default=0.0),
        )
        handlers = GaugeMetricFamily("lifeline_handlers", "Handlers by state", labels=["state"])
        for handler_state, count in self.handlers.items():
            handlers.add_metric([handler_state.value], count)
        yield handlers
        for field_name, (name, text) in FIGURES.items():
            family = GaugeMetricFamily(name, text, labels=["queue", "priority", "window"])
            for window, report in self.windows.items():
                for row in report.figures:
                    value = getattr(row, field_name)
                    p1_only = field_name.startswith("p1_") and row.priority != Priority.EMERGENCY
                    if value is not None and not p1_only:
                        family.add_metric([row.queue, str(row.priority), window.value], value)
            yield family
        terminated = GaugeMetricFamily(
            "lifeline_ivr_terminated",
            "Calls that ended in the IVR, before entering a queue (terminated, not abandoned)",
            labels=["window"],
        )
        for window, report in self.windows.items():
            terminated.add_metric([window.value], report.terminated)
        yield terminated
        yield GaugeMetricFamily(
            "lifeline_mode_degraded", "1 while degraded (clinical system down)", int(self.degraded)
        )
        journal = GaugeMetricFamily(
            "lifeline_journal_entries", "Contingency journal entries by state", labels=["state"]
        )
        for state in ("pending", "delivered", "duplicate", "failed"):
            journal.add_metric([state], getattr(self.journal, state))
        yield journal
        timeouts = CounterMetricFamily(
            "lifeline_replication_wait_timeouts",
            "Durable writes the replicas did not acknowledge in time (REDIS_WAIT_REPLICAS)",
            labels=["write"],
        )
        for write, count in sorted(self.replication_timeouts.items()):
            timeouts.add_metric([write], count)
        yield timeouts
        yield from self._clinician()

    def _clinician(self) -> Iterator[Metric]:
        """The NHS figure (routing.clinician_clock): today, and the hour under way."""
        periods = {"today": self.clinician.day}
        if self.clinician.hours:
            periods["this_hour"] = self.clinician.hours[-1]
        urgency = self.clinician.urgency
        for field_name, (name, text) in CLINICIAN_FIGURES.items():
            family = GaugeMetricFamily(name, text, labels=["urgency", "period"])
            for period, figures in periods.items():
                value = getattr(figures, field_name)
                if value is not None:
                    family.add_metric([urgency, period], value)
            yield family


async def metrics(request: Request) -> Response:
    ivr: Ivr = request.state.ivr
    console: Console = request.state.console
    if not may_read_metrics(request, ivr.settings.metrics_token.get_secret_value()):
        return JSONResponse(
            {"error": "/metrics needs Authorization: Bearer and the METRICS_TOKEN setting"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = generate_latest(ivr.metrics.registry)
    try:
        rules = await ivr.floor.rulebook.active()
        now = ivr.floor.clock.now()
        snapshot = Snapshot(
            outcomes=await ivr.floor.calls.outcomes(),
            queues=sorted(rules.queues),
            waiting=await waiting_now(ivr.floor.calls.redis, sorted(rules.queues), now),
            handlers=await ivr.floor.handlers.counts(),
            windows=await console.stats.reports(now),
            degraded=(await console.floor.modes.read()).degraded,
            journal=await console.journal.progress(),
            emergencies=await emergencies_waiting(ivr.floor.calls.redis, sorted(rules.queues), now),
            clinician=await clinician_day(ivr.floor.redis, local_midnight(now), now),
            replication_timeouts=await replication_timeouts(ivr.floor.redis),
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
