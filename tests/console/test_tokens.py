"""API tokens kept from before tokens expired, or before they belonged to accounts (such a record
is written straight into Redis, as it was kept then, and must not open the API for good); a token
whose account is disabled or gone; a token of no account, Lifeline's own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from pydantic import SecretStr
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import LIFETIME_DAYS, Role, Tokens, digest
from console.web.accounts import Accounts, NewUser
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from tests.console.web.people import CHEAP, PASSWORD

pytestmark = pytest.mark.anyio

MADE = 1_700_000_000.0
DAY = 86_400.0
SECRET = "llt_a-token-made-long-ago-0123456789abcdefghijklmnop"


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


async def add_sue(aredis: redis.asyncio.Redis) -> Accounts:
    accounts = Accounts(aredis, hasher=CHEAP)
    new = NewUser(username="sue", name="Sue", role=Role.ADMIN, password=SecretStr(PASSWORD))
    await accounts.add(new, MADE)
    return accounts


async def keep(aredis: redis.asyncio.Redis, **record: object) -> str:
    """A token record as an older version kept it; the token itself."""
    info = {"id": "0ld0ld0ld0ld", "name": "old token", "role": "supervisor", "handler": ""}
    await aredis.set(keys.token(digest(SECRET)), json.dumps(info | record))
    await aredis.hset(keys.TOKENS, "0ld0ld0ld0ld", digest(SECRET))
    return SECRET


async def test_a_token_from_before_tokens_expired_expires_ninety_days_after_it_was_made(
    aredis: redis.asyncio.Redis,
) -> None:
    await add_sue(aredis)
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


async def test_a_token_made_as_its_account_was_disabled_opens_nothing(
    aredis: redis.asyncio.Redis,
) -> None:
    """Disabling revokes the tokens it finds; one made at that moment, after it looked, is still
    kept, and refused because its account is disabled."""
    accounts = await add_sue(aredis)
    tokens = Tokens(aredis)
    _, before = await tokens.create("before", Role.SUPERVISOR, MADE, account="sue")
    assert await tokens.verify(before, MADE) is not None
    assert await accounts.disable("sue")
    _, during = await tokens.create("during", Role.SUPERVISOR, MADE, account="sue")
    assert [info.name for info in await tokens.all()] == ["during"]
    assert await tokens.verify(during, MADE) is None


async def test_a_token_of_an_account_that_is_not_there_opens_nothing(
    aredis: redis.asyncio.Redis,
) -> None:
    tokens = Tokens(aredis)
    _, token = await tokens.create("ghost's", Role.ADMIN, MADE, account="ghost")
    assert await tokens.verify(token, MADE) is None
    await aredis.hset(keys.user("ghost"), "password", "x")  # an account without its profile
    assert await tokens.verify(token, MADE) is None


async def test_a_token_of_no_account_is_lifelines_own_and_lives_a_day_at_most(
    aredis: redis.asyncio.Redis,
) -> None:
    """No account can be disabled to stop it: only Lifeline makes one (the drill's), and it
    expires within a day."""
    tokens = Tokens(aredis)
    _, own = await tokens.create("outage drill", Role.SUPERVISOR, MADE)
    assert await tokens.verify(own, MADE + DAY - 1) is not None
    assert await tokens.verify(own, MADE + DAY) is None
    with pytest.raises(ValueError, match="a day at most"):
        await tokens.create("lasting", Role.SUPERVISOR, MADE, lifetime_days=2)
    lasting = await keep(aredis, created=MADE, expires=MADE + LIFETIME_DAYS * DAY)
    assert await tokens.verify(lasting, MADE + 60) is None
    listed = {info.name: info.refused(MADE + 60) for info in await tokens.all()}
    assert listed == {"outage drill": "", "old token": NO_ACCOUNT}


NO_ACCOUNT = "revoked: of no account, and made to last longer than Lifeline's own (a day at most)"


def test_the_api_refuses_a_token_whose_account_is_disabled(
    client: TestClient, redis_url: str, clock: VirtualClock
) -> None:
    async def made() -> str:
        aredis = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            accounts = await add_sue(aredis)
            await accounts.disable("sue")
            return (await Tokens(aredis).create("t", Role.ADMIN, clock.now(), account="sue"))[1]
        finally:
            await aredis.aclose()

    token = asyncio.run(made())
    response = client.get("/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
