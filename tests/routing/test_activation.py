"""Activating a rule set as the API and the console do: the version read once, and free handlers
offered the best waiting calls under it, the offers handed back to be connected."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis
import redis.asyncio
from rq import Queue

from config.settings import Settings
from routing import keys
from routing.activation import activate_rule_set
from routing.audit import Audit
from routing.clock import VirtualClock
from routing.floor import Floor
from routing.rulebook import RuleBook, canonical
from routing.rules import default_rules
from tests.routing.test_assignment import T0, hire, queue_call, sid
from tests.routing.test_rulebook import medicines_to_mental_health
from workers.enqueue import Jobs

pytestmark = pytest.mark.anyio


async def test_an_activated_version_is_read_once_and_a_free_handler_is_offered_a_waiting_call(
    aredis: redis.asyncio.Redis, settings: Settings, sync_redis: redis.Redis
) -> None:
    book = RuleBook(aredis, Audit(aredis))
    jobs = Jobs(sync_redis, retention_days=settings.retention_days)
    floor = replace(
        Floor.of(aredis, VirtualClock(T0 + 10), settings, default_rules(), jobs), rulebook=book
    )
    await book.seed(T0)
    created = await book.create(canonical(medicines_to_mental_health()), "sue", T0)
    await queue_call(aredis, sid(1), "general", 3, T0)
    await hire(aredis, "h1")
    version = await book.get(created.number)
    assert book.reads == 1

    activated = await activate_rule_set(floor, version, "sue", "medicines to mental health", {})

    assert book.reads == 2  # and version 1, to diff against
    assert activated.number == created.number
    assert [(offer.member, offer.handler) for offer in activated.offers] == [(sid(1), "h1")]
    assert await aredis.get(keys.RULES_ACTIVE) == str(created.number)
    assert await book.active() is version.rules
    assert book.reads == 2
    assert len(Queue("calls", connection=sync_redis)) == 1  # the offer, being connected
