"""The composition root of the web process: every client built here, once, and handed down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from ivr import webhooks
from ivr.context import Ivr
from ivr.metrics import WebhookMetrics
from ivr.twiml import Renderer
from ivr.urls import Urls
from lifeline import ops
from lifeline.redis_client import async_client, sync_client
from lifeline.settings import Settings, load_settings
from prompts.catalogue import load_catalogue
from routing.assignment import Assigner
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.clock import Clock, SystemClock
from routing.handlers import Handlers
from routing.offers import Offers
from routing.queues import Queues
from routing.rulebook import RuleBook
from routing.rules import RuleSet, default_rules
from workers.enqueue import Jobs

log = logging.getLogger(__name__)


def build_ivr(
    settings: Settings,
    redis_client: redis.asyncio.Redis,
    job_connection: redis.Redis,
    clock: Clock,
    rules: RuleSet,
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
        rulebook=RuleBook(redis_client, rules),
        assigner=Assigner(redis_client),
        offers=Offers(redis_client),
        jobs=Jobs(job_connection),
        metrics=WebhookMetrics(CollectorRegistry(auto_describe=True)),
    )


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    rules: RuleSet | None = None,
) -> Starlette:
    """The ASGI app. The prompts and rules are checked here, so a bad one stops start-up."""
    redis_client = async_client(str(settings.redis_url))
    job_connection = sync_client(str(settings.redis_url))
    ivr = build_ivr(
        settings, redis_client, job_connection, clock or SystemClock(), rules or default_rules()
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Ivr]]:
        try:
            await ivr.rulebook.seed(ivr.clock.now())
        except RedisError as error:
            log.warning("rules not seeded, Redis unreachable: %s", error)
        try:
            yield {"ivr": ivr}
        finally:
            await redis_client.aclose()
            job_connection.close()

    return Starlette(routes=[*webhooks.routes(), *ops.routes()], lifespan=lifespan)


def app_from_environment() -> Starlette:
    """For `uvicorn --factory`."""
    return create_app(load_settings())
