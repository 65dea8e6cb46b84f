"""The sim's settings and its command line: missing or malformed values stop it, named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.settings import SimSettingsError, load_sim_settings

SID = "AC" + "ab" * 16


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no var/run.env or .env of the developer's in the way
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "SIM_TIME_SCALE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_build_the_phone_config(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TWILIO_ACCOUNT_SID", SID)
    environment.setenv("TWILIO_AUTH_TOKEN", "token-value")
    environment.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000/")
    environment.setenv("SIM_TIME_SCALE", "0.5")
    environment.setenv("SIM_STATUS_CALLBACK_EVENTS", "answered,completed")

    config = load_sim_settings().phone_config()

    assert config.urls.voice == "http://127.0.0.1:8000/twilio/voice"
    assert config.urls.status_callback == "http://127.0.0.1:8000/twilio/status"
    assert config.urls.fallback == "http://127.0.0.1:8000/twilio/fallback"
    assert (config.time_scale, config.speech_words_per_second) == (0.5, 2.5)
    assert config.webhook_timeout == 15.0
    assert config.status_callback_events == frozenset({"answered", "completed"})
    assert config.auth_token == "token-value"


def test_missing_and_malformed_settings_are_named_without_their_values(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("TWILIO_AUTH_TOKEN", "very-secret-token")
    environment.setenv("SIM_TIME_SCALE", "fast")

    with pytest.raises(SimSettingsError) as raised:
        load_sim_settings()

    message = str(raised.value)
    assert "TWILIO_ACCOUNT_SID is missing" in message
    assert "PUBLIC_BASE_URL is missing" in message
    assert "SIM_TIME_SCALE is malformed" in message
    assert "fast" not in message
    assert "very-secret-token" not in message


def test_the_phone_command_refuses_to_start_without_settings(
    environment: pytest.MonkeyPatch,
) -> None:
    result = CliRunner().invoke(main, ["phone", "--port", "0"])

    assert result.exit_code == 1
    assert "TWILIO_ACCOUNT_SID is missing" in result.output
