"""API tokens kept from before tokens expired, or before they belonged to accounts: such a record
is written straight into Redis, as it was kept then, and must not open the API for good."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from starlette.testclient import TestClient

from console.tokens import LIFETIME_DAYS, Tokens, digest
from lifeline.app import create_app
from lifeline.settings import Settings
from routing import keys
from routing.clock import VirtualClock

pytestmark = pytest.mark.anyio

MADE = 1_700_000_000.0
DAY = 86_400.0
SECRET = "llt_a-token-made-long-ago-0123456789abcdefghijklmnop"


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


async def keep(aredis: redis.asyncio.Redis, **record: object) -> str:
    """A token record as an older version kept it; the token itself."""
    info = {"id": "0ld0ld0ld0ld", "name": "old token", "role": "supervisor", "handler": ""}
    await aredis.set(keys.token(digest(SECRET)), json.dumps(info | record))
    await aredis.hset(keys.TOKENS, "0ld0ld0ld0ld", digest(SECRET))
    return SECRET


async def test_a_token_from_before_tokens_expired_expires_ninety_days_after_it_was_made(
    aredis: redis.asyncio.Redis,
) -> None:
    token = await keep(aredis, created=MADE, account="sue")  # no expiry
    tokens = Tokens(aredis)
    assert await tokens.verify(token, MADE + (LIFETIME_DAYS - 1) * DAY) is not None
    assert await tokens.verify(token, MADE + LIFETIME_DAYS * DAY) is None
    [listed] = await tokens.all()
    assert listed.expires == MADE + LIFETIME_DAYS * DAY
    assert listed.refused(MADE + LIFETIME_DAYS * DAY) == "expired"


async def test_a_token_without_a_creation_time_or_an_expiry_is_refused_at_once(
    aredis: redis.asyncio.Redis,
) -> None:
    token = await keep(aredis, account="sue")
    tokens = Tokens(aredis)
    assert await tokens.verify(token, MADE) is None
    [listed] = await tokens.all()  # still listed, for an administrator to see and revoke
    assert listed.refused(MADE) == "expired"


async def test_a_token_from_before_tokens_belonged_to_accounts_is_refused_as_revoked(
    aredis: redis.asyncio.Redis,
) -> None:
    token = await keep(aredis, created=MADE)  # as the first tokens were kept: nobody's
    tokens = Tokens(aredis)
    assert await tokens.verify(token, MADE + 60) is None
    [listed] = await tokens.all()
    assert listed.refused(MADE + 60) == "revoked: made before tokens belonged to accounts"
    assert await tokens.revoke(listed.id)


def test_the_api_refuses_a_token_from_before_accounts(
    client: TestClient, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    info = {"id": "0ld0ld0ld0ld", "name": "old", "role": "admin", "handler": ""}
    sync_redis.set(keys.token(digest(SECRET)), json.dumps(info | {"created": clock.now()}))
    response = client.get("/api/v1/queues", headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 401
