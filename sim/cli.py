"""`lifeline-sim`: the stand-ins for the outside world, one command each."""

from __future__ import annotations

import logging

import click
import uvicorn

from sim.clinical import app as clinical_app
from sim.phone.app import create_app
from sim.settings import SimSettings, SimSettingsError, load_sim_settings


def _settings() -> SimSettings:
    try:
        return load_sim_settings()
    except SimSettingsError as error:
        raise click.ClickException(f"cannot start: {error}") from None


@click.group()
def main() -> None:
    """Simulators that stand in for Twilio and the clinical system in local runs and tests."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: SIM_PHONE_PORT, 8010).")
def phone(host: str, port: int | None) -> None:
    """Run the phone network: Twilio's REST subset, TwiML execution and the /sim/ control API."""
    settings = _settings()
    app = create_app(settings.phone_config())
    # No access log: request paths carry phone numbers (parties), which logs must not show.
    uvicorn.run(
        app, host=host, port=port or settings.sim_phone_port, log_level="info", access_log=False
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8020,
    show_default=True,
    help="FHIR API port; the base URL is http://HOST:PORT/fhir.",
)
@click.option(
    "--control-port",
    type=click.IntRange(1, 65535),
    default=8021,
    show_default=True,
    help="Control API port (faults, received bundles); stays up when the FHIR port is down.",
)
def clinical(host: str, port: int, control_port: int) -> None:
    """Run the clinical-system stub: a FHIR R4 subset, faults switched over the control API."""
    if port == control_port:
        raise click.BadParameter("must differ from --port", param_hint="--control-port")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = clinical_app.ClinicalConfig(host=host, fhir_port=port)
    # No access log: the stub logs its own line per FHIR request, without patient data.
    uvicorn.run(
        clinical_app.create_app(config),
        host=host,
        port=control_port,
        log_level="info",
        access_log=False,
    )
