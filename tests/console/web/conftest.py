"""Fixtures for the consoles: people signed in through the real form, and one Chromium for the
whole session (a missing Chromium fails the browser tests, saying what to install)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.redis_client import async_client
from config.settings import Settings
from console.tokens import Role, Scope, Tokens
from lifeline.app import create_app
from routing.clock import VirtualClock
from tests.console.web.browser import CHROMIUM, BrowserThread
from tests.console.web.people import BASE, Person, add_user
from tests.e2e.stack import Stack

People = Callable[[], Person]


@pytest.fixture
def people(settings: Settings, redis_url: str, clock: VirtualClock) -> Iterator[People]:
    """`people()` is someone new at a browser of their own (their own cookies, their own
    authenticator app), all on one app in-process."""
    with ExitStack() as stack:
        clients: list[TestClient] = []

        def person() -> Person:
            if not clients:
                app = create_app(settings, clock=clock)
                clients.append(stack.enter_context(TestClient(app, base_url=BASE)))
            return Person(clients[0], redis_url, clock)

        yield person


def signed_in(
    people: People, redis_url: str, username: str, role: Role, handler: str = ""
) -> Person:
    add_user(redis_url, username, role, handler=handler)
    person = people()
    assert person.sign_in(username).status_code == 303
    return person


@pytest.fixture
def supervisor(people: People, redis_url: str) -> Person:
    return signed_in(people, redis_url, "sue", Role.SUPERVISOR)


@pytest.fixture
def admin(people: People, redis_url: str) -> Person:
    return signed_in(people, redis_url, "ada", Role.ADMIN)


@pytest.fixture
def handler_person(people: People, redis_url: str) -> Person:
    """Signed in as handler h1's account (the handler itself is for each test to create)."""
    return signed_in(people, redis_url, "hana", Role.HANDLER, handler="h1")


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserThread]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests drive Debian's Chromium at {CHROMIUM}, which is missing: "
            "install it with `apt-get install chromium` (no browser is ever downloaded)"
        )
    running = BrowserThread().start()
    yield running
    running.stop()


def rules_token(redis_url: str) -> str:
    """A supervisor's token made with the rules scope: the tests' scripts activate rule sets."""

    async def create() -> str:
        client = async_client(redis_url)
        try:
            scopes = frozenset({Scope.RULES})
            made = await Tokens(client).create(
                "e2e rules", Role.SUPERVISOR, time.time(), scopes=scopes
            )
            return made[1]
        finally:
            await client.aclose()

    return asyncio.run(create())


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path).start()
    running.api.headers["Authorization"] = f"Bearer {rules_token(redis_url)}"
    try:
        yield running
    finally:
        running.stop()
