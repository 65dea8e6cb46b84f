"""The rule book's caches: on its own clock, a process follows a version activated through another
within 2 s, and not before its cache period is over (one read a period, not one a call); and it
parses each version once."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from routing import keys
from routing.activation import activate
from routing.audit import Audit
from routing.clock import VirtualClock
from routing.rulebook import CACHE_SECONDS, RuleBook, canonical
from routing.rules import RuleSet, default_rules
from tests.routing.test_assignment import T0

PROMISE_SECONDS = 2.0  # every process routes by a newly activated version within this


def medicines_to_mental_health() -> RuleSet:
    document = default_rules().model_dump(mode="json")
    route = next(r for r in document["routes"] if r["name"] == "medicines")
    route["queue"] = "mental_health"
    return RuleSet.model_validate(document)


def medicines_queue(rules: RuleSet) -> str:
    """Where these rules send a caller about medicines: `general` in version 1, not in 2."""
    return next(route.queue for route in rules.routes if route.name == "medicines")


async def followed(redis_url: str, new: RuleSet, since_read: float, asked: float) -> RuleSet:
    """Process B reads the active set (version 1, the packaged default) at 0 on its cache's
    clock; `since_read` later, version 2 (`new`) is activated through process A; B is asked
    again `asked` after that. The set B then routes by."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushall()
        through = RuleBook(client, Audit(client))
        await through.seed(T0)
        version = await through.create(canonical(new), "sue", T0)
        cache_clock = VirtualClock(start=0.0)
        other = RuleBook(client, Audit(client), monotonic=cache_clock.now)
        assert await other.active() == through.fallback
        cache_clock.advance(since_read)
        await activate(client, through, version.number, "sue", T0)
        assert await through.active() == new
        cache_clock.advance(asked)
        return await other.active()
    finally:
        await client.aclose()


seconds = st.floats(min_value=0, max_value=2 * PROMISE_SECONDS, allow_nan=False)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(since_read=seconds, asked=seconds)
@example(since_read=0.0, asked=CACHE_SECONDS - 0.001)  # the last moment of the period
@example(since_read=0.0, asked=CACHE_SECONDS)
@example(since_read=0.0, asked=PROMISE_SECONDS)
@example(since_read=CACHE_SECONDS - 0.001, asked=0.0)
def test_another_process_follows_an_activation_within_2_s_and_not_before_its_cache_period(
    redis_url: str, since_read: float, asked: float
) -> None:
    routes_by = asyncio.run(followed(redis_url, medicines_to_mental_health(), since_read, asked))
    if asked >= PROMISE_SECONDS:
        assert medicines_queue(routes_by) == "mental_health"
    if since_read + asked < CACHE_SECONDS:
        assert medicines_queue(routes_by) == "general"  # from its cache: Redis was not asked
    else:
        assert medicines_queue(routes_by) == "mental_health"


@pytest.mark.anyio
async def test_a_version_is_parsed_once_in_a_process_however_often_and_at_once_it_is_read(
    aredis: redis.asyncio.Redis,
) -> None:
    book = RuleBook(aredis, Audit(aredis))
    await book.seed(T0)
    created = await book.create(canonical(medicines_to_mental_health()), "sue", T0)
    assert book.reads == 0  # what was created is not read back
    versions = await asyncio.gather(*(book.get(created.number) for _ in range(5)))
    assert book.reads == 1
    assert all(version.rules is versions[0].rules for version in versions)
    await activate(aredis, book, created.number, "sue", T0)  # reads version 1 too
    assert book.reads == 2
    assert await book.active() is versions[0].rules
    assert (await book.get(created.number)).rules is versions[0].rules
    assert book.reads == 2


@pytest.mark.anyio
async def test_a_version_stored_without_its_parsed_form_is_read_from_its_text(
    aredis: redis.asyncio.Redis,
) -> None:
    book = RuleBook(aredis, Audit(aredis))
    await book.seed(T0)
    one = await book.create(canonical(medicines_to_mental_health()), "sue", T0)
    two = await book.create(canonical(medicines_to_mental_health()), "sue", T0)
    await aredis.hdel(keys.rules_version(one.number), "parsed")  # as stored before there was one
    await aredis.hset(keys.rules_version(two.number), "parsed", '{"routes": "garbled"}')
    for version in (one, two):
        assert medicines_queue((await book.get(version.number)).rules) == "mental_health"


@pytest.mark.anyio
async def test_a_version_number_that_comes_round_again_is_read_afresh(
    aredis: redis.asyncio.Redis,
) -> None:
    book = RuleBook(aredis, Audit(aredis))
    await book.seed(T0)
    assert medicines_queue((await book.get(1)).rules) == "general"
    await aredis.flushall()  # Redis lost its data: version 1 is made again, differently
    await book.store(medicines_to_mental_health(), "sue", T0)
    assert medicines_queue((await book.get(1)).rules) == "mental_health"


@pytest.mark.anyio
async def test_an_active_version_this_process_cannot_read_leaves_it_routing_by_what_it_knew(
    aredis: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A version written by a later release (a field this one does not know: after a rollback),
    or lost from Redis, stops nobody's routing: the last set read, or the packaged default."""
    cache_clock = VirtualClock(0.0)
    book = RuleBook(aredis, Audit(aredis), monotonic=cache_clock.now)
    await book.seed(T0)
    known = await book.create(canonical(medicines_to_mental_health()), "sue", T0)
    await aredis.set(keys.RULES_ACTIVE, known.number)
    assert medicines_queue(await book.active()) == "mental_health"
    later = default_rules().model_dump(mode="json") | {"a_later_field": True}
    await aredis.hset(keys.rules_version(99), mapping={
        "author": "sue", "created": repr(T0), "comment": "", "document": json.dumps(later),
    })  # fmt: skip
    await aredis.set(keys.RULES_ACTIVE, 99)
    cache_clock.advance(CACHE_SECONDS + 1)
    assert medicines_queue(await book.active()) == "mental_health"  # what it knew
    assert "rule set version 99 cannot be read" in caplog.text
    fresh = RuleBook(
        aredis, Audit(aredis)
    )  # a process started since: nothing known but the packaged default
    assert (await fresh.active()) is fresh.fallback
    await aredis.set(keys.RULES_ACTIVE, 100)  # no such version at all
    another = RuleBook(aredis, Audit(aredis))
    assert (await another.active()) is another.fallback
    assert "rule set version 100 cannot be read" in caplog.text
