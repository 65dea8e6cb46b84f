"""The `lifeline` command: run the processes, place a simulated call, manage accounts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click
import uvicorn
from rq import Worker
from rq.cron import CronScheduler
from rq.serializers import JSONSerializer

from lifeline import devrun, logging, phonecall
from lifeline.app import create_app
from lifeline.redis_client import sync_client
from lifeline.settings import Settings, SettingsError, load_settings
from prompts.catalogue import CatalogueError, load_catalogue
from routing.rules import RuleSetError, default_rules
from workers.cron import SCHEDULE
from workers.queues import ALL

P = ParamSpec("P")
R = TypeVar("R")

MAIN_LINE = "+441134960000"
CALLER = "+447700900123"


def fails_clearly(command: Callable[P, R]) -> Callable[P, R]:
    """Configuration problems end the process with the variable's name, not a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (SettingsError, CatalogueError, RuleSetError) as error:
            click.echo(f"lifeline: configuration error: {error}", err=True)
            sys.exit(2)

    return run


def configured() -> Settings:
    settings = load_settings()
    logging.configure(settings.log_level, secrets=[settings.twilio_auth_token.get_secret_value()])
    return settings


@click.group()
def main() -> None:
    """Lifeline: IVR and call routing for an urgent-care telephone line."""


@main.command()
@fails_clearly
def run() -> None:
    """Start everything for a local run: Redis (embedded unless REDIS_URL is set), the web,
    worker and cron processes, and the simulated phone network."""
    sys.exit(devrun.run())


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=None, help="Defaults to PORT.")
@fails_clearly
def web(host: str, port: int | None) -> None:
    """The web process: Twilio webhooks, consoles, API."""
    settings = configured()
    load_catalogue()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="*",
    )


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@fails_clearly
def worker(burst: bool) -> None:
    """An RQ worker for Lifeline's jobs."""
    settings = configured()
    connection = sync_client(str(settings.redis_url))
    Worker(list(ALL), connection=connection, serializer=JSONSerializer).work(burst=burst)


@main.command()
@fails_clearly
def cron() -> None:
    """RQ's cron scheduler with Lifeline's periodic jobs."""
    settings = configured()
    scheduler = CronScheduler(connection=sync_client(str(settings.redis_url)))
    for job in SCHEDULE:
        scheduler.register(
            job.func,
            queue_name=job.queue.value,
            interval=job.interval_seconds,
            job_timeout=job.timeout_seconds,
        )
    scheduler.start()  # type: ignore[no-untyped-call]


@main.command()
@click.option("--from", "caller", default=CALLER, show_default=True, help="The caller's number.")
@click.option("--to", "line", default=MAIN_LINE, show_default=True, help="The number called.")
@click.option("--press", default=None, help='Keys to press at each question, e.g. "2,1".')
@click.option(
    "--hold",
    "hold_seconds",
    type=float,
    default=0.0,
    show_default=True,
    help="With --press: seconds to stay on hold once queued.",
)
@fails_clearly
def call(caller: str, line: str, press: str | None, hold_seconds: float) -> None:
    """Place a simulated call through the local phone network and hear what the caller hears."""
    settings = load_settings()
    presses = phonecall.parse_presses(press) if press is not None else None
    status = phonecall.place_call(
        settings.api_base_url,
        caller=caller,
        line=line,
        presses=presses,
        hold_seconds=hold_seconds,
        out=sys.stdout,
        keys=None if presses is not None else sys.stdin,
    )
    sys.exit(status)


@main.command()
@fails_clearly
def check() -> None:
    """Check the settings, the prompt catalogue and the default rules, and say what is wrong."""
    load_settings()
    load_catalogue()
    default_rules()
    click.echo("settings, prompts and rules are all valid")
