"""A supervisor's new priority for a callback, as the API and the console give it: audited only
when it changes, a free handler offered the callback once it is back in the queue, and what
stands in its way named."""

from __future__ import annotations

import pytest
import redis.asyncio

from routing import callback_priority, keys
from routing.assignment import Assigner
from routing.audit import Audit
from routing.callbacks import Callbacks
from routing.models import Priority
from routing.rulebook import RuleBook
from tests.conftest import NUMBERS
from tests.routing.test_callbacks import CALLER, T0, book, make_unreachable

pytestmark = pytest.mark.anyio


async def reprioritise(
    client: redis.asyncio.Redis, callback_id: str, now: float
) -> callback_priority.Reprioritised:
    return await callback_priority.reprioritise(
        Callbacks(client, numbers=NUMBERS),
        RuleBook(client, Audit(client)),
        Assigner(client),
        Audit(client),
        callback_id,
        priority=Priority.URGENT,
        actor="dr.jones",
        reason="try again",
        now=now,
    )


async def test_an_unreachable_callback_back_in_the_queue_is_offered_to_a_free_handler(
    aredis: redis.asyncio.Redis,
) -> None:
    callback_id = await book(aredis, 1, T0)
    now = await make_unreachable(aredis, callback_id, T0)  # h1 is free

    done = await reprioritise(aredis, callback_id, now)

    assert (done.outcome, done.changed, done.other) == ("pending", True, "")
    assert [(offer.member, offer.handler) for offer in done.offers] == [
        (keys.callback_member(callback_id), "h1")
    ]
    [entry] = await Audit(aredis).latest(1, "callback.priority")
    assert (entry.actor, entry.target, entry.detail) == (
        "dr.jones",
        callback_id,
        {"priority": 2, "reason": "try again"},
    )


async def test_a_callback_superseded_by_the_callers_newer_one_names_it_and_is_not_audited(
    aredis: redis.asyncio.Redis,
) -> None:
    old = await book(aredis, 1, T0, caller=CALLER)
    now = await make_unreachable(aredis, old, T0)
    newer = await book(aredis, 2, now, caller=CALLER)

    done = await reprioritise(aredis, old, now)

    assert (done.outcome, done.changed, done.other, done.offers) == (
        "superseded",
        False,
        newer,
        [],
    )
    assert await Audit(aredis).latest(1, "callback.priority") == []
