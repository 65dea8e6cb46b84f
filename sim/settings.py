"""The sim's settings: environment variables (and env files) read once into one frozen object."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sim.phone.config import CALL_PROGRESS_EVENTS, LineUrls, PhoneConfig


class SimSettingsError(Exception):
    """A setting is missing or malformed; `str()` names every variable at fault, never a value."""


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        env_file=("var/run.env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    twilio_account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")]
    twilio_auth_token: SecretStr
    public_base_url: AnyHttpUrl
    sim_phone_port: Annotated[int, Field(ge=1, le=65535)] = 8010
    sim_time_scale: Annotated[float, Field(gt=0, le=100)] = 1.0
    sim_speech_words_per_second: Annotated[float, Field(ge=0)] = 2.5
    sim_webhook_timeout: Annotated[float, Field(gt=0, le=600)] = 15.0
    sim_status_callback_events: Annotated[frozenset[str], NoDecode] = frozenset({"completed"})
    # Web processes behind PUBLIC_BASE_URL (comma-separated base URLs): requests for it are
    # spread over them in turn, as a load balancer would, still signed for the public URL.
    sim_webhook_backends: Annotated[tuple[AnyHttpUrl, ...], NoDecode] = ()

    @field_validator("sim_webhook_backends", mode="before")
    @classmethod
    def _split_backends(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("twilio_auth_token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("sim_status_callback_events", mode="before")
    @classmethod
    def _split_events(cls, value: object) -> object:
        if isinstance(value, str):
            events = frozenset(part.strip() for part in value.split(",") if part.strip())
            if not events or not events <= CALL_PROGRESS_EVENTS:
                allowed = ", ".join(sorted(CALL_PROGRESS_EVENTS))
                raise ValueError(f"must be a comma-separated list of: {allowed}")
            return events
        return value

    def phone_config(self) -> PhoneConfig:
        return PhoneConfig(
            account_sid=self.twilio_account_sid,
            auth_token=self.twilio_auth_token.get_secret_value(),
            urls=LineUrls.under(str(self.public_base_url)),
            status_callback_events=self.sim_status_callback_events,
            time_scale=self.sim_time_scale,
            speech_words_per_second=self.sim_speech_words_per_second,
            webhook_timeout=self.sim_webhook_timeout,
            public_base_url=str(self.public_base_url),
            backends=tuple(str(backend) for backend in self.sim_webhook_backends),
        )


def describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        reason = "is missing" if item["type"] == "missing" else f"is malformed: {item['msg']}"
        problems.append(f"{name} {reason}")
    return "; ".join(problems)


def load_sim_settings() -> SimSettings:
    try:
        return SimSettings()  # values come from the environment
    except ValidationError as error:
        raise SimSettingsError(describe(error)) from None
