"""Webhook metrics, in a registry of the app's own (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.latency = Histogram(
            "lifeline_webhook_seconds",
            "Time to answer a Twilio webhook",
            ["path"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.failures = Counter(
            "lifeline_webhook_failures",
            "Webhooks answered with the safe route because something failed",
            ["path"],
            registry=registry,
        )
        self.rejected = Counter(
            "lifeline_webhook_rejected",
            "Webhooks refused: bad signature or body too large",
            ["reason"],
            registry=registry,
        )
