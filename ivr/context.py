"""What the webhooks need, built once by the composition root and handed over in request state:
the floor the use cases take, and what is the webhook's own (signature, rendering, metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from config.settings import Settings
from ivr.metrics import WebhookMetrics
from ivr.twiml import Renderer
from routing.floor import Floor


@dataclass(frozen=True)
class Ivr:
    floor: Floor
    settings: Settings
    validator: RequestValidator
    renderer: Renderer
    metrics: WebhookMetrics
