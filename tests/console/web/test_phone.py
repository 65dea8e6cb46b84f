"""The console as the handler's phone, where an API key and the Voice SDK's location are set: an
access token for the handler's Client identity, the SDK on their page, and a policy that lets it
reach Twilio. Without them, nothing of it is there."""

from __future__ import annotations

import asyncio

import jwt
import pytest
import redis.asyncio

from config.settings import Settings
from console.tokens import Role
from routing.handlers import Device, HandlerProfile, Handlers
from tests.conftest import ACCOUNT_SID, make_settings
from tests.console.web.conftest import People
from tests.console.web.people import Person, add_user
from tests.staff import Staff

KEY_SID = "SK" + "5" * 32
KEY_SECRET = "api-key-secret-for-tests-0123456789"
SDK_URL = "https://media.example.org/twilio-voice-sdk/twilio.min.js"


def with_phone(redis_url: str) -> Settings:
    return make_settings(
        redis_url,
        twilio_api_key_sid=KEY_SID,
        twilio_api_key_secret=KEY_SECRET,
        twilio_voice_sdk_url=SDK_URL,
    )


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return with_phone(redis_url)


def test_a_handler_gets_a_token_for_their_client_identity_and_the_sdk_on_their_page(
    handler_person: Person, staff: Staff
) -> None:
    staff("h1")
    page = handler_person.get("/console/handler")
    assert f'<script src="{SDK_URL}" defer></script>' in page.text
    assert 'data-sign-in="/console/handler/phone-token"' in page.text
    assert "Connecting the phone…" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' https://media.example.org;" in policy
    assert "connect-src 'self' wss://*.twilio.com https://*.twilio.com;" in policy

    answer = handler_person.get("/console/handler/phone-token")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["identity"] == "h1"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["token"], KEY_SECRET, algorithms=["HS256"])
    assert claims["iss"] == KEY_SID
    assert claims["sub"] == ACCOUNT_SID
    assert claims["exp"] - claims["nbf"] == 3600
    assert claims["grants"] == {"identity": "h1", "voice": {"incoming": {"allow": True}}}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["token"], "another-api-key-secret-0123456789", algorithms=["HS256"])


def test_no_token_for_a_supervisor_nor_for_a_handler_whose_calls_ring_a_number(
    people: People, supervisor: Person, redis_url: str, settings: Settings
) -> None:
    refused = supervisor.get("/console/handler/phone-token")
    assert refused.status_code == 403

    async def on_a_number() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            device = Device(kind="number", address="+447700900555")
            await Handlers(client).create(
                HandlerProfile(id="h2", name="Hal", skills={}, device=device), 0.0
            )
        finally:
            await client.aclose()

    asyncio.run(on_a_number())
    add_user(redis_url, "hal", Role.HANDLER, handler="h2")
    hal = people()
    assert hal.sign_in("hal").status_code == 303
    page = hal.get("/console/handler")
    assert "Phone: your calls ring …555" in page.text
    assert SDK_URL not in page.text
    not_a_phone = hal.get("/console/handler/phone-token")
    assert not_a_phone.status_code == 409
    assert "Your calls ring a telephone number, not the console." in not_a_phone.text
    assert "+447700900555" not in not_a_phone.text


def test_the_settings_need_all_three_or_none() -> None:
    with pytest.raises(ValueError, match="TWILIO_API_KEY_SECRET, TWILIO_VOICE_SDK_URL unset"):
        make_settings("redis://127.0.0.1:1/0", twilio_api_key_sid=KEY_SID)
    with pytest.raises(ValueError, match="twilio_voice_sdk_url"):
        make_settings("redis://127.0.0.1:1/0", twilio_voice_sdk_url="ftp://elsewhere/sdk.js")
