"""Sign-in attempts are limited in Redis: per username and client, per username overall, and per
client whatever the usernames, each attempt counted before its password is checked, with a delay
that grows, never a lockout."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from console.tokens import Role
from console.web.ratelimit import PER_ADDRESS, PER_CLIENT, PER_USERNAME, Limit, LoginLimiter
from tests.console.web.conftest import People
from tests.console.web.people import add_user

pytestmark = pytest.mark.anyio


def test_five_failures_rest_the_username_from_that_client_with_a_clear_message(
    people: People, redis_url: str
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    for _ in range(5):
        refused = person.sign_in("sue", "not the password")
        assert refused.status_code == 401
        assert "The username or password is not right." in refused.text
    rested = person.sign_in("sue")  # even the right password, for now
    assert rested.status_code == 429
    assert rested.headers["Retry-After"] == "30"
    assert "Too many failed sign-in attempts. Try again in 30 seconds" in rested.text
    assert "not the password" not in rested.text
    assert people().sign_in("someone-else", "whatever").status_code == 401  # others unaffected


async def test_each_failure_past_the_free_ones_doubles_the_delay_up_to_its_ceiling(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis, per_client=Limit(2, 10, 35, 60), per_username=PER_USERNAME)
    now, waits = 1000.0, []
    for _ in range(6):
        assert await limiter.attempt("sue", "10.0.0.1", now) == 0  # counted, then failed
        waits.append(await limiter.wait("sue", "10.0.0.1", now))
        if waits[-1]:  # too soon: refused, and not counted
            assert await limiter.attempt("sue", "10.0.0.1", now + waits[-1] - 0.5) == 1
        now += waits[-1]
    assert waits == [0, 10, 20, 35, 35, 35]
    assert await limiter.wait("sue", "10.0.0.2", now) == 0  # another client may still try


async def test_a_right_password_takes_its_attempt_back_and_the_client_starts_afresh(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis, per_client=Limit(2, 10, 35, 60), per_username=Limit(3, 5, 5, 60))
    assert await limiter.attempt("sue", "10.0.0.1", 0) == 0
    assert await limiter.attempt("SUE", "10.0.0.2", 0) == 0  # names are compared without case
    assert await limiter.attempt("sue", "10.0.0.3", 0) == 0
    await limiter.succeeded("sue", "10.0.0.3")  # two failures from anywhere, not three
    assert await limiter.wait("sue", "10.0.0.4", 0) == 0
    assert await limiter.attempt("sue", "10.0.0.4", 0) == 0  # the third: the name rests
    assert await limiter.wait("sue", "10.0.0.5", 0) == 5


async def test_concurrent_guesses_are_each_counted_before_any_is_checked(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis)
    from_one = await asyncio.gather(*(limiter.attempt("sue", "10.0.0.1", 0) for _ in range(80)))
    assert sum(1 for wait in from_one if wait == 0) == PER_CLIENT.free
    many = (limiter.attempt("bob", f"10.0.1.{n}", 0) for n in range(80))
    from_many = await asyncio.gather(*many)
    assert sum(1 for wait in from_many if wait == 0) == PER_USERNAME.free


async def test_strangers_failing_on_purpose_delay_the_owner_by_a_minute_at_most(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis)
    now = 0.0
    for n in range(200):  # from spoofed or borrowed addresses, as fast as they are let
        now += await limiter.wait("supervisor", f"203.0.113.{n}", now)
        await limiter.attempt("supervisor", f"203.0.113.{n}", now)
    assert 0 < await limiter.wait("supervisor", "10.1.1.1", now) <= 60


async def test_failures_are_forgotten_after_a_quiet_spell_and_names_are_digested(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis, per_client=Limit(1, 30, 30, 60), per_username=PER_USERNAME)
    assert await limiter.attempt("sue", "10.0.0.1", 0) == 0
    names = [key async for key in aredis.scan_iter()]
    assert len(names) == 3
    assert not any("sue" in name or "10.0.0.1" in name for name in names)  # digested
    assert sorted([await aredis.ttl(name) for name in names]) == [90, 120, 60 + 15 * 60]
    await limiter.clear("Sue")
    assert len([key async for key in aredis.scan_iter()]) == 1  # the client's, for any name


async def test_names_made_up_one_after_another_rest_the_client_after_thirty(
    aredis: redis.asyncio.Redis,
) -> None:
    limiter = LoginLimiter(aredis)
    guesses = (limiter.attempt(f"guess-{n}", "203.0.113.7", 0) for n in range(80))
    waits = await asyncio.gather(*guesses)  # concurrent, each name new
    assert sum(1 for wait in waits if wait == 0) == PER_ADDRESS.free
    assert await limiter.wait("sue", "203.0.113.7", 0) == PER_ADDRESS.first_delay
    assert await limiter.wait("sue", "198.51.100.20", 0) == 0  # another client is not held up
    await limiter.attempt("sue", "198.51.100.20", 0)
    await limiter.succeeded("sue", "198.51.100.20")  # a right password is no failure of its client
    for n in range(PER_ADDRESS.free - 1):
        assert await limiter.attempt(f"typo-{n}", "198.51.100.20", 0) == 0
    assert await limiter.wait("sue", "198.51.100.20", 0) == 0
    assert await limiter.wait("sue", "203.0.113.7", 10) == 0  # its delay over, it may try again
