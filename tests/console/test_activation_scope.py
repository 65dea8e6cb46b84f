"""Activating a rule set through the API needs a token made with the rules scope (by an
administrator, on the command line); a supervisor's ordinary token cannot, and each activation
is audited with the id of the token that made it."""

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
from tests.console.test_activation import without_dental
from tests.console.test_api import Api
from tests.console.web.people import add_user


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def sue(redis_url: str) -> None:
    """The account the tokens belong to (an admin, so that they may have either role)."""
    add_user(redis_url, "sue", Role.ADMIN, enrol=False)


def made(redis_url: str, role: Role, scopes: frozenset[Scope] = frozenset()) -> tuple[str, str]:
    async def create() -> tuple[str, str]:
        client = async_client(redis_url)
        try:
            return await Tokens(client).create(
                f"{role} token of sue", role, time.time(), account="sue", scopes=scopes
            )
        finally:
            await client.aclose()

    return asyncio.run(create())


def new_version(api: Api) -> int:
    body = {"rules": without_dental()}
    return int(api.send("POST", "/api/v1/rules/versions", body, 201)["number"])


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_a_token_without_the_rules_scope_cannot_activate(
    client: TestClient, redis_url: str, sync_redis: redis.Redis, role: Role
) -> None:
    _, token = made(redis_url, role)
    api = Api(client, token)
    number = new_version(api)  # drafting a version is still open to it
    refused = api.send("POST", f"/api/v1/rules/versions/{number}/activate", {}, 403)
    assert refused["error"] == (
        "activating a rule set needs a token made with the rules scope (lifeline token create "
        "--account U --scope rules) or a supervisor signed in to the console with a second factor"
    )
    assert sync_redis.get(keys.RULES_ACTIVE) == "1"


def test_a_token_with_the_rules_scope_activates_and_the_audit_names_the_token(
    client: TestClient, redis_url: str, sync_redis: redis.Redis
) -> None:
    token_id, token = made(redis_url, Role.SUPERVISOR, frozenset({Scope.RULES}))
    api = Api(client, token)
    number = new_version(api)
    api.send("POST", f"/api/v1/rules/versions/{number}/activate", {"reason": "rota"}, 200)
    assert sync_redis.get(keys.RULES_ACTIVE) == str(number)
    [entry] = api.get("/api/v1/audit?action=rules.activate")
    assert entry["detail"]["token"] == token_id
    assert entry["detail"]["account"] == "sue"
    assert entry["detail"]["via"] == "token"
    assert entry["detail"]["reason"] == "rota"
