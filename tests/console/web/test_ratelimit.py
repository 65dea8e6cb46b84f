"""Sign-in attempts are limited in Redis: per username and client, and per username overall."""

from __future__ import annotations

import pytest
import redis.asyncio

from console.tokens import Role
from console.web.ratelimit import LoginLimiter
from tests.console.web.conftest import People
from tests.console.web.people import add_user

pytestmark = pytest.mark.anyio


def test_five_failures_lock_the_username_from_that_client_with_a_clear_message(
    people: People, redis_url: str
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    for _ in range(5):
        refused = person.sign_in("sue", "not the password")
        assert refused.status_code == 401
        assert "The username or password is not right." in refused.text
    locked = person.sign_in("sue")  # even the right password, for now
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes" in locked.text
    assert "not the password" not in locked.text
    assert people().sign_in("someone-else", "whatever").status_code == 401  # others unaffected


async def test_the_client_limit_and_the_username_limit_and_a_success(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis, per_client=2, per_username=3, window_seconds=60)
    await limiter.failed("sue", "10.0.0.1")
    assert await limiter.wait("sue", "10.0.0.1") == 0
    await limiter.failed("sue", "10.0.0.1")
    assert 0 < await limiter.wait("sue", "10.0.0.1") <= 60
    assert await limiter.wait("sue", "10.0.0.2") == 0  # another client may still try
    await limiter.failed("SUE", "10.0.0.3")  # names are compared without case
    assert await limiter.wait("sue", "10.0.0.2") > 0  # three from anywhere: the name rests
    await limiter.succeeded("sue", "10.0.0.1")
    assert await limiter.wait("sue", "10.0.0.1") > 0  # the overall count still stands


async def test_failures_expire_with_the_window_that_began_at_the_first(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis, per_client=1, per_username=5, window_seconds=30)
    await limiter.failed("sue", "10.0.0.1")
    assert 29 <= await limiter.wait("sue", "10.0.0.1") <= 30
    keys = [key async for key in aredis.scan_iter()]
    assert len(keys) == 2
    for key in keys:
        await aredis.expire(key, 5)
    await limiter.failed("sue", "10.0.0.1")  # a later failure does not extend the window
    assert [await aredis.ttl(key) for key in keys] == [5, 5]
    assert not any("sue" in key for key in keys)  # usernames are digested in key names
