"""Settings: environment variables read once into one frozen object.

Sources, strongest first: the environment, `.env`, then `var/run.env` (written by `lifeline run`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    IPvAnyNetwork,
    RedisDsn,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.number_policy import outside_policy
from config.redis_client import RedisTarget, address_of


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
SentinelAddress = Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}$")]
RUN_ENV_FILE = "var/run.env"
SMTP_URL = re.compile(r"((smtps?|smtp\+insecure)://([^\s/@]+@)?[^\s/@:]+(:\d+)?/?)?")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
NUMBER_HASH_LABEL = b"lifeline caller number hash key v1"
NUMBER_HASH_KEY_CHARS = 32


class SettingsError(Exception):
    """A setting is missing or malformed; `str()` names every variable at fault."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        env_file=(RUN_ENV_FILE, ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    redis_url: RedisDsn
    # Redis behind Sentinel (docs/DEPLOYMENT.md): the sentinels (host:port, comma-separated) and
    # the service they watch. Set, every process finds the primary through them, and REDIS_URL
    # gives only the database, password and TLS; unset, REDIS_URL is the server itself.
    redis_sentinels: Annotated[tuple[SentinelAddress, ...], NoDecode] = ()
    redis_sentinel_service: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "lifeline"
    redis_sentinel_password: SecretStr = SecretStr("")  # the sentinels' own, if they have one
    # What must never be lost (an accepted callback, a journal entry, an audit record, a
    # wrap-up) is acknowledged once this many replicas have it, waiting this long at most
    # (routing/replicated.py). 0: the primary's word (one server, no replica).
    redis_wait_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    # Well under the clients' 1 s read timeout: a WAIT that outlasted it would fail the write
    # and have it retried.
    redis_wait_milliseconds: Annotated[int, Field(ge=10, le=500)] = 100
    public_base_url: AnyHttpUrl
    twilio_account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")]
    twilio_auth_token: SecretStr
    twilio_api_base_url: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")
    # How late after a calls.create request Twilio may still make the call: until then, a
    # callback whose request's outcome is unknown is not dialled again (workers/dial_intents.py).
    # Never less than the REST request's own timeouts (5 s to connect, 5 s to read): a request
    # may be on its way that long.
    twilio_latest_call_seconds: float = Field(default=30.0, ge=10, le=300)
    clinical_fhir_base_url: AnyHttpUrl
    # Numbers Lifeline may dial although the number policy refuses them (routing/numbers.py);
    # declared before the numbers it is checked against.
    number_policy_exceptions: Annotated[tuple[E164, ...], NoDecode] = ()
    ambulance_dispatch_number: E164
    # A neighbouring service's line that callers are put through to once Lifeline has been unable
    # to route them (Redis unreachable) for this many minutes. Unset: they stay on the line, told
    # what is happening, the emergency key live. Under the number policy (routing.numbers).
    fallback_line_number: Annotated[str, Field(pattern=r"^(\+[1-9][0-9]{6,14})?$")] = ""
    fallback_line_after_minutes: Annotated[int, Field(ge=1, le=60)] = 5
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    welsh_line_numbers: Annotated[tuple[E164, ...], NoDecode] = ()
    # The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or
    # networks); nobody's by default, so a client cannot pass for many.
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    log_level: Annotated[str, Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"
    # json: one JSON object a line, for production; text: readable lines for a terminal, without
    # other libraries' routine INFO lines (`lifeline run` sets it).
    log_format: LogFormat = LogFormat.JSON
    # The clinical system's circuit breaker: K failures within a window make the mode degraded;
    # M healthy probes in a row over at least T seconds make it normal again. By default an
    # outage is noticed within 7.5 s (routing/breaker.py says how), and the window holds ten
    # probes, so that a few slow answers scattered over minutes do not add up to an outage.
    clinical_failures_to_degrade: Annotated[int, Field(ge=1, le=100)] = 3
    clinical_failure_window_seconds: Annotated[float, Field(gt=0, le=3600)] = 20.0
    clinical_healthy_probes_to_recover: Annotated[int, Field(ge=1, le=100)] = 3
    clinical_recovery_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    clinical_probe_interval_seconds: Annotated[int, Field(ge=1, le=300)] = 2
    clinical_probe_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 1.5
    # Patient data kept only as long as needed: a delivered journal entry, and a callback done or
    # cancelled, keep only what the audit and statistics need this many days after (nothing
    # pending, live or unreachable is touched).
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # Conversations recorded at Twilio (a caller with their handler, a callback, an emergency put
    # through to the dispatch line), and how long each recording is kept before it is deleted
    # there: three years by default, as the NHS records code asks of call recordings; set it to
    # your own records policy.
    record_calls: bool = True
    recording_retention_days: Annotated[int, Field(ge=1, le=3650)] = 1095
    # Replaying the contingency journal into the clinical system, once it is back.
    replay_per_second: Annotated[float, Field(gt=0, le=100)] = 5.0
    # Where contingency records are also e-mailed while degraded (none: not e-mailed).
    contingency_email_to: str = ""
    contingency_email_from: str = "lifeline@localhost"
    # smtp[s]://[user:password@]host[:port]; a password may hold a secret, so it is one.
    smtp_url: SecretStr = SecretStr("")
    # Certificates the mail server's may be issued by, beyond the system's (a PEM file).
    smtp_ca_file: Annotated[str, Field(max_length=4096)] = ""
    # The handler console as a phone (Twilio's Voice JavaScript SDK), when all three are set: an
    # API key for the access tokens, and where the page loads the SDK's twilio.min.js from.
    twilio_api_key_sid: Annotated[str, Field(pattern=r"^(SK[0-9a-fA-F]{32})?$")] = ""
    twilio_api_key_secret: SecretStr = SecretStr("")
    twilio_voice_sdk_url: Annotated[str, Field(pattern=r"^(https?://\S+|/\S*)?$")] = ""
    # Signs the consoles' session cookies. Unset: derived from TWILIO_AUTH_TOKEN (HMAC with a
    # fixed label), so changing the auth token signs everyone out.
    session_secret: SecretStr = SecretStr("")
    # What Prometheus sends as `Authorization: Bearer ...` to read /metrics (unset: nobody may).
    metrics_token: SecretStr = SecretStr("")
    # Handlers too must sign in with a second factor (supervisors and admins always must).
    mfa_for_handlers: bool = False
    # The key of the digests callers are recognised by in Redis (routing/number_hash.py). Unset:
    # derived from TWILIO_AUTH_TOKEN (HMAC with a fixed label), never from anything public.
    number_hash_key: SecretStr = SecretStr("")

    @field_validator(
        "welsh_line_numbers",
        "trusted_proxies",
        "number_policy_exceptions",
        "redis_sentinels",
        mode="before",
    )
    @classmethod
    def _split_numbers(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ambulance_dispatch_number", "fallback_line_number")
    @classmethod
    def _in_policy(cls, value: str, info: ValidationInfo) -> str:
        exceptions = frozenset(info.data.get("number_policy_exceptions", ()))
        refused = outside_policy(value, exceptions) if value else None
        if refused:
            raise ValueError(f"{refused}, or one of NUMBER_POLICY_EXCEPTIONS")
        return value

    @field_validator("twilio_auth_token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("number_hash_key")
    @classmethod
    def _number_hash_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < NUMBER_HASH_KEY_CHARS:
            raise ValueError(f"must be at least {NUMBER_HASH_KEY_CHARS} characters, or unset")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr) -> SecretStr:
        # Never the value in the message: it may hold the password.
        url = value.get_secret_value()
        if not SMTP_URL.fullmatch(url):
            raise ValueError(
                "must be smtp://host[:port] or smtps://..., with user:password@ before the host "
                "to log in (characters such as / or @ in them percent-encoded)"
            )
        parts = urlsplit(url)
        if parts.scheme == "smtp+insecure" and parts.hostname not in LOOPBACK:
            raise ValueError("smtp+insecure:// (no TLS) is for a test sink on this machine only")
        return value

    @model_validator(mode="after")
    def _softphone_all_or_nothing(self) -> Settings:
        given = {
            "TWILIO_API_KEY_SID": bool(self.twilio_api_key_sid),
            "TWILIO_API_KEY_SECRET": bool(self.twilio_api_key_secret.get_secret_value()),
            "TWILIO_VOICE_SDK_URL": bool(self.twilio_voice_sdk_url),
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, present in given.items() if not present)
            raise ValueError(
                f"the console's phone needs all of {', '.join(given)}; {missing} unset"
            )
        return self

    @property
    def softphone(self) -> bool:
        """Whether handlers' consoles are their phones (Twilio's Voice JavaScript SDK)."""
        return bool(self.twilio_api_key_sid)

    @property
    def policy_exceptions(self) -> frozenset[str]:
        """NUMBER_POLICY_EXCEPTIONS, as the number policy takes them."""
        return frozenset(self.number_policy_exceptions)

    @property
    def number_hash_secret(self) -> bytes:
        """NUMBER_HASH_KEY, or a key derived from TWILIO_AUTH_TOKEN when it is unset: secret
        either way, so that the digests of callers' numbers cannot be reversed."""
        key = self.number_hash_key.get_secret_value()
        if key:
            return key.encode()
        token = self.twilio_auth_token.get_secret_value().encode()
        return hmac.new(token, NUMBER_HASH_LABEL, hashlib.sha256).digest()

    def public_url(self, path: str) -> str:
        """The absolute URL Twilio uses for `path` (what signatures are computed over)."""
        return str(self.public_base_url).rstrip("/") + path

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for the logs to redact wherever one turns up."""
        values = [
            self.twilio_auth_token.get_secret_value(),
            self.twilio_api_key_secret.get_secret_value(),
            self.session_secret.get_secret_value(),
            self.metrics_token.get_secret_value(),
            self.number_hash_key.get_secret_value(),
            self.redis_url.password or "",
            self.redis_sentinel_password.get_secret_value(),
        ]
        smtp_password = urlsplit(self.smtp_url.get_secret_value()).password or ""
        values += [smtp_password, unquote(smtp_password)]
        return tuple(dict.fromkeys(value for value in values if value))

    @property
    def redis(self) -> RedisTarget:
        """Where every process's Redis clients connect (config/redis_client.py)."""
        return RedisTarget(
            str(self.redis_url),
            tuple(address_of(each) for each in self.redis_sentinels),
            self.redis_sentinel_service,
            self.redis_wait_replicas,
            self.redis_wait_milliseconds,
            self.redis_sentinel_password.get_secret_value(),
        )

    @property
    def api_base_url(self) -> str:
        return str(self.twilio_api_base_url).rstrip("/")

    @property
    def fhir_base_url(self) -> str:
        return str(self.clinical_fhir_base_url).rstrip("/")


def describe(error: ValidationError) -> str:
    """Name each variable at fault, never its value (it may be a secret)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        reason = "is missing" if item["type"] == "missing" else f"is malformed: {item['msg']}"
        problems.append(f"{name} {reason}")
    return "; ".join(problems)


def load_settings() -> Settings:
    try:
        return Settings()  # values come from the environment
    except ValidationError as error:
        raise SettingsError(describe(error)) from None
