"""The composition root of the web process: every client built here, once, and handed down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from ivr import webhooks
from ivr.context import Ivr
from ivr.metrics import WebhookMetrics
from ivr.twiml import Renderer
from ivr.urls import Urls
from lifeline import ops
from lifeline.redis_client import async_client
from lifeline.settings import Settings, load_settings
from prompts.catalogue import load_catalogue
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.clock import Clock, SystemClock
from routing.handlers import Handlers
from routing.queues import Queues
from routing.rulebook import RuleBook
from routing.rules import RuleSet, default_rules


def build_ivr(
    settings: Settings, redis_client: redis.asyncio.Redis, clock: Clock, rules: RuleSet
) -> Ivr:
    return Ivr(
        settings=settings,
        clock=clock,
        validator=RequestValidator(settings.twilio_auth_token.get_secret_value()),
        renderer=Renderer(load_catalogue(), Urls(str(settings.public_base_url))),
        calls=Calls(redis_client),
        queues=Queues(redis_client),
        handlers=Handlers(redis_client),
        callbacks=Callbacks(redis_client),
        rulebook=RuleBook(rules),
        metrics=WebhookMetrics(CollectorRegistry(auto_describe=True)),
    )


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    rules: RuleSet | None = None,
) -> Starlette:
    """The ASGI app. The prompts and rules are checked here, so a bad one stops start-up."""
    redis_client = async_client(str(settings.redis_url))
    ivr = build_ivr(settings, redis_client, clock or SystemClock(), rules or default_rules())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Ivr]]:
        try:
            yield {"ivr": ivr}
        finally:
            await redis_client.aclose()

    return Starlette(routes=[*webhooks.routes(), *ops.routes()], lifespan=lifespan)


def app_from_environment() -> Starlette:
    """For `uvicorn --factory`."""
    return create_app(load_settings())
