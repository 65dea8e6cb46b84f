"""Giving a handler a phone number decides which phone patients' calls ring: through the API it
needs what activating a rule set needs, a token made with the rules scope, and the audit keeps
the number whole (staff's numbers, not patients')."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from config.redis_client import async_client
from config.settings import Settings
from console.tokens import Role, Scope, Tokens
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from tests.console.test_api import Api, new_handler
from tests.console.web.people import add_user

ATTACKERS = "+447700900999"  # any UK mobile passes the number policy, an attacker's too
NEEDS_SCOPE = (
    "giving a handler a phone number, or changing a handler's device to or from one, needs a "
    "token made with the rules scope (lifeline token create --account U --scope rules), as "
    "activating a rule set does"
)


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


def made(redis_url: str, role: Role, scopes: frozenset[Scope] = frozenset()) -> tuple[str, str]:
    """A token of sue's (an admin, so that it may have either role): its id and the token."""

    async def create() -> tuple[str, str]:
        client = async_client(redis_url)
        try:
            return await Tokens(client).create(
                f"{role} token of sue", role, time.time(), account="sue", scopes=scopes
            )
        finally:
            await client.aclose()

    return asyncio.run(create())


@pytest.fixture
def sue(redis_url: str) -> None:
    add_user(redis_url, "sue", Role.ADMIN, enrol=False)


def on_phone(handler_id: str, number: str = ATTACKERS) -> dict[str, object]:
    return new_handler(handler_id) | {"device": {"kind": "number", "address": number}}


@pytest.mark.usefixtures("sue")
@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_an_ordinary_token_cannot_make_a_handler_whose_calls_ring_a_phone(
    client: TestClient, redis_url: str, sync_redis: redis.Redis, role: Role
) -> None:
    api = Api(client, made(redis_url, role)[1])
    refused = api.send("POST", "/api/v1/handlers", on_phone("h9"), 403)
    assert refused == {"error": NEEDS_SCOPE}
    assert not sync_redis.exists(keys.handler("h9"))
    assert api.send("PUT", "/api/v1/handlers/h9/state", {"state": "available"}, 404)
    assert api.get("/api/v1/audit?action=handler.create") == []
    api.send("POST", "/api/v1/handlers", new_handler("h8"), 201)  # on the console: still open


@pytest.mark.usefixtures("sue")
def test_an_ordinary_token_cannot_change_a_device_to_from_or_between_phones(
    client: TestClient, redis_url: str
) -> None:
    scoped = Api(client, made(redis_url, Role.SUPERVISOR, frozenset({Scope.RULES}))[1])
    ordinary = Api(client, made(redis_url, Role.SUPERVISOR)[1])
    scoped.send("POST", "/api/v1/handlers", new_handler("h1"), 201)
    scoped.send("POST", "/api/v1/handlers", on_phone("h2", "+447700900456"), 201)
    for handler_id, changed in [
        ("h1", on_phone("h1")),  # from the console to a phone
        ("h2", on_phone("h2")),  # from one phone to another
        ("h2", new_handler("h2")),  # from a phone to the console
    ]:
        path = f"/api/v1/handlers/{handler_id}"
        assert ordinary.send("PUT", path, changed, 403) == {"error": NEEDS_SCOPE}
    assert ordinary.get("/api/v1/handlers/h1")["profile"]["device"]["kind"] == "client"
    assert ordinary.get("/api/v1/handlers/h2")["profile"]["device"]["address"] == "+447700900456"
    # What does not move a handler's calls stays open to an ordinary token, phone or not.
    renamed = on_phone("h2", "+447700900456") | {"name": "Hana", "skills": {"dental": 2}}
    assert ordinary.send("PUT", "/api/v1/handlers/h2", renamed)["profile"]["name"] == "Hana"
    console = new_handler("h1") | {"device": {"kind": "client", "address": "h1-desk"}}
    ordinary.send("PUT", "/api/v1/handlers/h1", console)


@pytest.mark.usefixtures("sue")
def test_a_scoped_token_gives_a_phone_and_the_audit_keeps_it_whole_with_the_token(
    client: TestClient, redis_url: str
) -> None:
    token_id, token = made(redis_url, Role.SUPERVISOR, frozenset({Scope.RULES}))
    api = Api(client, token)
    api.send("POST", "/api/v1/handlers", on_phone("h9"), 201)
    [created] = api.get("/api/v1/audit?action=handler.create")
    assert created["target"] == "h9"
    assert created["detail"] == {
        "device": {"kind": "number", "address": ATTACKERS},
        "token": token_id,
    }
    api.send("PUT", "/api/v1/handlers/h9", on_phone("h9", "+447700900456"))
    [updated] = api.get("/api/v1/audit?action=handler.update")
    assert updated["detail"] == {
        "device": {
            "before": {"kind": "number", "address": ATTACKERS},
            "after": {"kind": "number", "address": "+447700900456"},
        },
        "token": token_id,
    }
