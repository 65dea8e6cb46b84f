"""The composition root of the web process: every client built here, once, and handed down."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from enum import StrEnum

import httpx
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from twilio.request_validator import RequestValidator

from config.redis_client import async_client, enqueue_client
from config.settings import Settings, load_settings
from console import api, recording_audio
from console.context import Console
from console.tokens import Tokens
from console.web import context as web_context
from console.web import routes as web
from console.web.pages import error_page
from ivr import webhooks
from ivr.context import Ivr
from ivr.metrics import WebhookMetrics
from ivr.twiml import Renderer
from ivr.urls import Urls
from lifeline import ops
from lifeline.limits import LIMITS, WEBHOOKS_LIMITS, BodyLimit
from prompts.catalogue import load_catalogue
from routing import key_migration
from routing.breaker import Breaker, BreakerSettings
from routing.clock import Clock, SystemClock
from routing.floor import Floor
from routing.journal import Journal
from routing.rules import RuleSet, default_rules
from routing.stats import Stats
from workers.clinical import ClinicalSystem
from workers.enqueue import Jobs

log = logging.getLogger(__name__)

WEB_CONNECTIONS = 200  # beyond them a command waits (up to a second) for one, never fails at once
HEALTH_CONNECTIONS = 4  # /readyz, which anyone may ask


class Serve(StrEnum):
    """What a web process serves: the patient's path and the staff's are different traffic with
    different exposure (Twilio must reach /twilio/ from the internet; the consoles and the API
    belong on the organisation's network), so a deployment runs them as separate processes, and
    a flood of one cannot touch the other. A local run may serve both from one."""

    ALL = "all"
    WEBHOOKS = "webhooks"  # /twilio/..., /healthz, /readyz, /metrics
    CONSOLE = "console"  # /console/..., /login, /logout, /api/v1/..., /healthz, /readyz, /metrics
    # The handlers' own, a part of the console's: their console page and what it sends (state,
    # heartbeat, wrap-up, softphone), and /api/v1/handlers/{id}/... A handler coming free is the
    # moment a waiting caller is put through, so no supervisor's page or stranger's sign-in may
    # stand in front of it: a deployment routes these paths to a process of their own (README,
    # "Processes"). The console serves them too, for a deployment without one.
    FLOOR = "floor"


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    rules: RuleSet | None = None,
    serve: Serve = Serve.ALL,
) -> Starlette:
    """The ASGI app. The prompts and rules are checked here, so a bad one stops start-up."""
    clock = clock or SystemClock()
    url, rules = settings.redis, rules or default_rules()
    # The floor's stores are shared by the webhooks and the consoles when one process serves
    # both (a local run): what one changes, the other sees at once. Health checks, which anyone
    # may send, have connections of their own; the staff's enqueues have threads of their own.
    redis_client = async_client(url, name="lifeline-web", connections=WEB_CONNECTIONS)
    health = async_client(url, name="lifeline-health", connections=HEALTH_CONNECTIONS)
    job_connections = [enqueue_client(url), enqueue_client(url)]
    kept = settings.retention_days
    ivr_jobs = Jobs(job_connections[0], retention_days=kept)
    console_jobs = Jobs(job_connections[1], retention_days=kept)
    # One floor of stores; the webhooks' and the staff's enqueues each on their own connection.
    floor = Floor.of(redis_client, clock, settings, rules, ivr_jobs)
    # The staff's side only: the consoles search and book appointments while a handler watches.
    # The webhooks are given no client of the clinical system, so none of theirs can wait on it.
    clinical_client = httpx.AsyncClient(trust_env=False)
    media_client = recording_audio.client_for(settings)
    ivr = build_ivr(settings, floor)
    console = build_console(floor, console_jobs, clinical_client, media_client)
    consoles = web_context.build(settings, redis_client)
    rulebook = floor.rulebook

    async def close() -> None:
        for client in (redis_client, health):
            await client.aclose()
        await clinical_client.aclose()
        await media_client.aclose()
        for connection in job_connections:
            connection.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        try:
            if await key_migration.left_behind(redis_client):
                await close()
                raise key_migration.NotMigrated()
            await rulebook.seed(clock.now())
        except RedisError as error:
            log.warning("rules not seeded, Redis unreachable: %s", error)
        # Everything made at start-up lives as long as the process: out of the collector's sight,
        # full collections stop walking it (they had put 60 ms into a webhook's p99).
        gc.collect()
        gc.freeze()
        try:
            yield {"ivr": ivr, "console": console, "web": consoles, "health": health}
        finally:
            await close()

    return Starlette(
        routes=[*served(serve), *ops.routes()],
        middleware=[
            *web.middleware(settings),
            Middleware(BodyLimit, limits=WEBHOOKS_LIMITS if serve is Serve.WEBHOOKS else LIMITS),
        ],
        exception_handlers={HTTPException: not_routed},
        lifespan=lifespan,
    )


def served(serve: Serve) -> list[BaseRoute]:
    patients = webhooks.routes() if serve in (Serve.ALL, Serve.WEBHOOKS) else []
    staff = [*api.routes(), *web.routes()] if serve in (Serve.ALL, Serve.CONSOLE) else []
    handlers = [*api.handlers_routes(), *web.handlers_routes()] if serve is Serve.FLOOR else []
    return [*patients, *staff, *handlers]


def build_ivr(settings: Settings, floor: Floor) -> Ivr:
    """The patient's side, over the floor; what its use cases enqueue goes on `floor.outbound`."""
    return Ivr(
        floor=floor,
        settings=settings,
        validator=RequestValidator(settings.twilio_auth_token.get_secret_value()),
        renderer=Renderer(
            load_catalogue(), Urls(str(settings.public_base_url)), record=settings.record_calls
        ),
        metrics=WebhookMetrics(CollectorRegistry(auto_describe=True)),
    )


def build_console(
    floor: Floor, jobs: Jobs, clinical: httpx.AsyncClient, media: httpx.AsyncClient
) -> Console:
    """The staff's side, over the floor; what its use cases enqueue goes on `jobs`."""
    settings = floor.settings
    breaker = Breaker(floor.redis, floor.modes, BreakerSettings.of(settings))
    return Console(
        floor=replace(floor, outbound=jobs),
        jobs=jobs,
        stats=Stats(floor.redis),
        tokens=Tokens(floor.redis),
        journal=Journal(floor.redis),
        breaker=breaker,
        clinical=ClinicalSystem(settings.fhir_base_url, clinical),
        media=media,
    )


async def not_routed(request: Request, error: Exception) -> Response:
    """No route for the path, or not for the method (or any other error Starlette raises): an
    API client is told so in JSON, a person in the console's own page, anyone else in text."""
    assert isinstance(error, HTTPException)
    status, headers = error.status_code, error.headers
    if request.url.path.startswith("/api/"):
        message = API_SAYS.get(status, error.detail)
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if request.url.path.startswith("/console"):
        page = error_page(request.state.web, status, CONSOLE_SAYS.get(status, error.detail), None)
        page.headers.update(headers or {})
        return page
    return PlainTextResponse(error.detail, status_code=status, headers=headers)


API_SAYS = {404: "no such endpoint", 405: "that method is not allowed here"}
CONSOLE_SAYS = {404: "There is no such page.", 405: "That cannot be done from here."}


def app_from_environment() -> Starlette:
    """For `uvicorn --factory`."""
    return create_app(load_settings())
