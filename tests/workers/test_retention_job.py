"""The housekeeping job applies the retention period on Lifeline's clock."""

from __future__ import annotations

import pytest

from routing.journal import EntryStatus, Journal
from tests.routing.test_callbacks import book, callbacks_of, caller_of
from tests.routing.test_retention import (
    CALLER,
    delivered_before_retention,
    kept_before_retention,
)
from workers.runtime import Runtime
from workers.sweeps import keep_only_what_is_needed

pytestmark = pytest.mark.anyio


async def test_housekeeping_forgets_what_was_delivered_more_than_the_period_ago(
    rt: Runtime,
) -> None:
    journal, now, days = Journal(rt.redis), rt.clock.now(), rt.settings.retention_days
    for case_id, delivered in (("OLD", now - (days + 1) * 86_400), ("NEW", now - 86_400)):
        await journal.capture(case_id, "case", {"b": 1}, {"caller": "+447700900123"}, delivered)
        await journal.outcome(case_id, "delivered", delivered)

    await keep_only_what_is_needed(rt)

    old, new = await journal.get("OLD"), await journal.get("NEW")
    assert old is not None
    assert new is not None
    assert (old.facts, new.facts) == ({}, {"caller": "+447700900123"})


async def test_housekeeping_forgets_callbacks_closed_more_than_the_period_ago_and_nothing_live(
    rt: Runtime,
) -> None:
    now, period = rt.clock.now(), rt.settings.retention_days * 86_400
    callbacks = callbacks_of(rt.redis)
    closed = await book(rt.redis, 1, now - period - 86_400)
    assert (
        await callbacks.cancel(closed, "caller", "on holiday", now - period - 3600) == "cancelled"
    )
    pending = await book(rt.redis, 2, now - period - 86_400)
    recent = await book(rt.redis, 3, now - 86_400)
    assert await callbacks.cancel(recent, "caller", "feeling better", now - 3600) == "cancelled"

    await keep_only_what_is_needed(rt)

    forgotten = await callbacks.get(closed)
    assert (forgotten.status, forgotten.number, forgotten.reason) == ("cancelled", "", "")
    assert (await callbacks.get(pending)).number == caller_of(2)
    assert (await callbacks.get(recent)).reason == "feeling better"


async def test_housekeeping_forgets_entries_delivered_before_entries_were_indexed(
    rt: Runtime,
) -> None:
    journal, long_ago = Journal(rt.redis), rt.clock.now() - 400 * 86_400
    await delivered_before_retention(rt.redis, "OLD", long_ago)
    await kept_before_retention(rt.redis, "WAITING", long_ago)

    await keep_only_what_is_needed(rt)

    old, waiting = await journal.get("OLD"), await journal.get("WAITING")
    assert old is not None
    assert waiting is not None
    assert (old.facts, old.bundle, old.notes) == ({}, {}, "")
    assert (waiting.status, waiting.facts, waiting.notes) == (
        EntryStatus.PENDING,
        {"caller": CALLER},
        "chest pain",
    )
