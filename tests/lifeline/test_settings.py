"""Settings: one frozen object; a missing or malformed value stops the process with its name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import LogFormat, SettingsError, load_settings
from tests.conftest import AUTH_TOKEN, NUMBER_HASH_KEY, make_settings
from tests.processes import lifeline

ENV = {
    "REDIS_URL": "redis://127.0.0.1:6399/0",
    "PUBLIC_BASE_URL": "https://lifeline.example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "CLINICAL_FHIR_BASE_URL": "https://clinical.example.org/fhir",
    "AMBULANCE_DISPATCH_NUMBER": "+441632960999",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no .env or var/run.env here
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_settings_are_read_from_the_environment(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("WELSH_LINE_NUMBERS", "+442920180111, +442920180112")
    settings = load_settings()
    assert settings.welsh_line_numbers == ("+442920180111", "+442920180112")
    assert settings.api_base_url == "https://api.twilio.com"
    assert settings.port == 8000
    assert settings.public_url("/twilio/voice") == "https://lifeline.example.org/twilio/voice"


def test_settings_are_frozen(redis_url: str) -> None:
    settings = make_settings(redis_url)
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_a_missing_value_is_named(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("AMBULANCE_DISPATCH_NUMBER")
    with pytest.raises(SettingsError, match=r"^AMBULANCE_DISPATCH_NUMBER is missing$"):
        load_settings()


def test_a_malformed_value_is_named_without_showing_it(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TWILIO_ACCOUNT_SID", "secret-looking-value")
    environment.setenv("PORT", "eighty")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "TWILIO_ACCOUNT_SID is malformed" in message
    assert "PORT is malformed" in message
    assert "secret-looking-value" not in message


def test_logs_are_json_unless_a_readable_format_is_asked_for(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.delenv("LOG_FORMAT", raising=False)
    assert load_settings().log_format is LogFormat.JSON
    environment.setenv("LOG_FORMAT", "text")
    assert load_settings().log_format is LogFormat.TEXT
    environment.setenv("LOG_FORMAT", "pretty")
    with pytest.raises(SettingsError, match="LOG_FORMAT is malformed"):
        load_settings()


def test_an_empty_auth_token_is_refused(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TWILIO_AUTH_TOKEN", "")
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN is malformed"):
        load_settings()


def test_a_number_hash_key_too_short_to_be_beyond_guessing_is_refused_unshown(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("NUMBER_HASH_KEY", "short-key-123")
    with pytest.raises(SettingsError, match="NUMBER_HASH_KEY is malformed") as caught:
        load_settings()
    assert "short-key-123" not in str(caught.value)


def test_the_number_hash_key_is_the_setting_or_else_derived_from_the_auth_token(
    environment: pytest.MonkeyPatch,
) -> None:
    derived = load_settings().number_hash_secret
    assert len(derived) == 32
    assert AUTH_TOKEN.encode() not in derived
    environment.setenv("TWILIO_AUTH_TOKEN", "another-auth-token")
    assert load_settings().number_hash_secret != derived
    environment.setenv("NUMBER_HASH_KEY", NUMBER_HASH_KEY)
    assert load_settings().number_hash_secret == NUMBER_HASH_KEY.encode()


def test_a_dot_env_file_is_read(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.delenv("AMBULANCE_DISPATCH_NUMBER")
    (tmp_path / ".env").write_text("AMBULANCE_DISPATCH_NUMBER=+441632960998\n")
    assert load_settings().ambulance_dispatch_number == "+441632960998"


def test_the_web_process_stops_with_the_name_of_a_missing_setting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = lifeline("web", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "REDIS_URL is missing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example.org",
        "smtps://mail.example.org:465",
        "smtp://lifeline:pa%2Fss%40word@mail.example.org:587/",
    ],
)
def test_an_smtp_url_is_taken_and_kept_secret(environment: pytest.MonkeyPatch, url: str) -> None:
    environment.setenv("SMTP_URL", url)
    settings = load_settings()
    assert settings.smtp_url.get_secret_value() == url
    assert url not in repr(settings)


def test_a_malformed_smtp_url_is_named_without_showing_it(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("SMTP_URL", "smtp://lifeline:pa/ss@mail.example.org")  # "/" not encoded
    with pytest.raises(SettingsError, match="SMTP_URL is malformed") as caught:
        load_settings()
    assert "pa/ss" not in str(caught.value)


def test_every_secret_is_there_for_the_logs_to_redact(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("REDIS_URL", "redis://:redis-password@127.0.0.1:6399/0")
    environment.setenv("SMTP_URL", "smtp://lifeline:pa%2Fss@mail.example.org")
    environment.setenv("SESSION_SECRET", "a-session-secret")
    environment.setenv("TWILIO_API_KEY_SID", "SK" + "b" * 32)
    environment.setenv("TWILIO_API_KEY_SECRET", "an-api-key-secret")
    environment.setenv("TWILIO_VOICE_SDK_URL", "/static/twilio.min.js")
    environment.setenv("NUMBER_HASH_KEY", NUMBER_HASH_KEY)
    assert set(load_settings().secrets) == {
        AUTH_TOKEN,
        "an-api-key-secret",
        "a-session-secret",
        NUMBER_HASH_KEY,
        "redis-password",
        "pa%2Fss",
        "pa/ss",
    }


def test_the_fallback_line_is_unset_by_default_and_taken_after_five_minutes(
    environment: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.fallback_line_number == ""
    assert settings.fallback_line_after_minutes == 5
    environment.setenv("FALLBACK_LINE_NUMBER", "+443001234567")
    environment.setenv("FALLBACK_LINE_AFTER_MINUTES", "10")
    settings = load_settings()
    assert settings.fallback_line_number == "+443001234567"
    assert settings.fallback_line_after_minutes == 10


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+449098790000", "a 090 number, outside the number policy"),
        ("+448712345678", "a 087 number, outside the number policy"),
        ("+447012345678", "a personal number"),
        ("+447623456789", "a pager number"),
        ("+33142685300", "not a UK number"),
        ("+4480012", "not a complete UK number"),
        ("01134960000", "String should match pattern"),
    ],
)
def test_a_fallback_line_outside_the_number_policy_stops_start_up_naming_it_and_why(
    environment: pytest.MonkeyPatch, number: str, why: str
) -> None:
    environment.setenv("FALLBACK_LINE_NUMBER", number)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("FALLBACK_LINE_NUMBER is malformed")
    assert why in message
    assert number not in message


@pytest.mark.parametrize("minutes", ["0", "61", "five"])
def test_fallback_line_minutes_out_of_range_stop_start_up_naming_them(
    environment: pytest.MonkeyPatch, minutes: str
) -> None:
    environment.setenv("FALLBACK_LINE_AFTER_MINUTES", minutes)
    with pytest.raises(SettingsError, match=r"^FALLBACK_LINE_AFTER_MINUTES is malformed"):
        load_settings()


def test_a_dispatch_line_outside_the_number_policy_stops_start_up_unless_an_exception(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("AMBULANCE_DISPATCH_NUMBER", "+882345678901")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("AMBULANCE_DISPATCH_NUMBER is malformed")
    assert "not a UK number" in message
    assert "+882345678901" not in message
    environment.setenv("NUMBER_POLICY_EXCEPTIONS", "+882345678901, +441134960000")
    settings = load_settings()
    assert settings.ambulance_dispatch_number == "+882345678901"
    assert settings.number_policy_exceptions == ("+882345678901", "+441134960000")
