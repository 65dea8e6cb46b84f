"""What the webhooks need, built once by the composition root and handed over in request state."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.request_validator import RequestValidator

from config.settings import Settings
from ivr.metrics import WebhookMetrics
from ivr.twiml import Renderer
from routing.assignment import Assigner
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.clock import Clock
from routing.floor import Floor
from routing.handlers import Handlers
from routing.mode import ModeStore
from routing.offers import Offers
from routing.queues import Queues
from routing.rulebook import RuleBook
from workers.enqueue import Jobs


@dataclass(frozen=True)
class Ivr:
    floor: Floor
    settings: Settings
    clock: Clock
    validator: RequestValidator
    renderer: Renderer
    calls: Calls
    queues: Queues
    handlers: Handlers
    callbacks: Callbacks
    rulebook: RuleBook
    assigner: Assigner
    offers: Offers
    jobs: Jobs
    modes: ModeStore
    metrics: WebhookMetrics
