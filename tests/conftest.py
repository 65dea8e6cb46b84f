"""Shared fixtures: a throwaway redis-server per session (flushed per test), settings, the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio
from starlette.testclient import TestClient

from config.settings import Settings
from lifeline.app import create_app
from lifeline.redis_server import RedisServer
from routing.clock import VirtualClock
from routing.number_hash import NumberHash
from tests.staff import Staff, make_staff
from tests.twilio import TwilioClient

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_BASE_URL = "https://lifeline.example.org"
MAIN_LINE = "+441134960000"
WELSH_LINE = "+442920180111"
DISPATCH = "+441632960999"
CALLER = "+447700900123"
NUMBER_HASH_KEY = "number-hash-key-for-the-tests-0123456789"
NUMBERS = NumberHash(NUMBER_HASH_KEY.encode())  # as the app hashes callers' numbers


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database on a running server (restarted if a test stopped it)."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.ping()
    except redis.ConnectionError:
        redis_server.start()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


METRICS_TOKEN = "metrics-token-for-the-tests"
METRICS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def make_settings(redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "public_base_url": PUBLIC_BASE_URL,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "clinical_fhir_base_url": "http://127.0.0.1:9/fhir",
        "ambulance_dispatch_number": DISPATCH,
        "welsh_line_numbers": (WELSH_LINE,),
        "metrics_token": METRICS_TOKEN,
        "number_hash_key": NUMBER_HASH_KEY,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return make_settings(redis_url)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def staff(redis_url: str, clock: VirtualClock) -> Staff:
    """Add handlers (busy unless told otherwise): `staff("h1", "h2", state=...)`."""
    return make_staff(redis_url, clock.now())


@pytest.fixture
def twilio(settings: Settings, clock: VirtualClock) -> Iterator[TwilioClient]:
    """The app in-process, driven as Twilio drives it: signed form posts to public URLs."""
    with TestClient(create_app(settings, clock=clock)) as client:
        yield TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
