"""The housekeeping job applies the retention period on Lifeline's clock."""

from __future__ import annotations

import pytest

from routing.journal import Journal
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
