"""One sim and one application under test per session, both over real HTTP; reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.rest import Client

from sim.phone.app import create_app
from sim.phone.config import LineUrls, PhoneConfig
from tests.sim.servers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    AppUnderTest,
    SimClient,
    free_port,
    serve,
)

TIME_SCALE = 0.02


@pytest.fixture(scope="session")
def _app_server() -> Iterator[AppUnderTest]:
    app = AppUnderTest(AUTH_TOKEN)
    with serve(app.asgi(), free_port()) as base_url:
        app.base_url = base_url
        yield app


@pytest.fixture(scope="session")
def _sim_server(_app_server: AppUnderTest) -> Iterator[SimClient]:
    config = PhoneConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        urls=LineUrls.under(_app_server.base_url),
        time_scale=TIME_SCALE,
        speech_words_per_second=0,
        webhook_timeout=2.0,
    )
    with serve(create_app(config), free_port()) as base_url:
        client = SimClient(base_url)
        yield client
        client.close()


@pytest.fixture
def app(_app_server: AppUnderTest, _sim_server: SimClient) -> Iterator[AppUnderTest]:
    _sim_server.reset()
    _app_server.reset()
    yield _app_server
    forged = [item for item in _app_server.received if not item.signature_valid]
    assert not forged, f"requests with a bad X-Twilio-Signature: {forged}"


@pytest.fixture
def sim(app: AppUnderTest, _sim_server: SimClient) -> SimClient:
    return _sim_server


@pytest.fixture
def rest(sim: SimClient) -> Client:
    """The real twilio library, its API base URL pointed at the sim."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = sim.base_url
    return client
