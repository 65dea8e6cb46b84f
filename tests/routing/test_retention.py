"""Patient data kept only as long as needed: after the retention period a delivered journal entry
keeps what the audit and the statistics need, the stream is trimmed, and nothing pending or
refused is ever touched."""

from __future__ import annotations

import pytest
import redis.asyncio

from routing import keys
from routing.journal import EntryStatus, Journal

pytestmark = pytest.mark.anyio

DAY = 86_400.0
NOW = 1_767_225_600.0
CALLER = "+447700900123"


async def captured(journal: Journal, case_id: str, at: float) -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"telecom": CALLER}]}
    await journal.capture(case_id, "callback", bundle, {"caller": CALLER}, at, notes="chest pain")


async def test_a_delivered_entry_past_the_period_keeps_only_what_the_audit_needs(
    aredis: redis.asyncio.Redis,
) -> None:
    journal = Journal(aredis)
    await captured(journal, "OLD", NOW - 40 * DAY)
    await journal.outcome("OLD", "delivered", NOW - 40 * DAY + 60)
    await captured(journal, "RECENT", NOW - 2 * DAY)
    await journal.outcome("RECENT", "delivered", NOW - 2 * DAY + 60)

    assert await journal.forget_settled(before=NOW - 30 * DAY) == 1

    old = await journal.get("OLD")
    assert old is not None
    assert (old.status, old.kind, old.captured, old.delivered) == (
        EntryStatus.DELIVERED,
        "callback",
        NOW - 40 * DAY,
        NOW - 40 * DAY + 60,
    )
    assert (old.facts, old.bundle, old.notes) == ({}, {}, "")
    raw = await aredis.hgetall(keys.journal_entry("OLD"))
    assert not any(CALLER in value or "chest pain" in value for value in raw.values())
    recent = await journal.get("RECENT")
    assert recent is not None
    assert recent.facts == {"caller": CALLER}  # within the period: whole
    assert (await journal.progress()).delivered == 2  # the statistics still count both
    assert await journal.forget_settled(before=NOW - 30 * DAY) == 0  # once only


async def test_nothing_pending_or_refused_is_ever_forgotten_however_old(
    aredis: redis.asyncio.Redis,
) -> None:
    journal = Journal(aredis)
    await captured(journal, "PENDING", NOW - 400 * DAY)
    await captured(journal, "REFUSED", NOW - 400 * DAY)
    await journal.outcome("REFUSED", "failed", NOW - 399 * DAY, "422 from the system")

    assert await journal.forget_settled(before=NOW - 30 * DAY) == 0
    for case_id in ("PENDING", "REFUSED"):
        entry = await journal.get(case_id)
        assert entry is not None
        assert entry.facts == {"caller": CALLER}
    listed = {entry.case_id for entry in await journal.entries()}
    assert listed == {"PENDING", "REFUSED"}  # still listed after the stream is trimmed


async def test_a_case_reopened_after_delivery_is_whole_again_until_delivered_and_past_it(
    aredis: redis.asyncio.Redis,
) -> None:
    journal = Journal(aredis)
    await captured(journal, "CASE", NOW - 40 * DAY)
    await journal.outcome("CASE", "delivered", NOW - 40 * DAY)
    await captured(journal, "CASE", NOW - 35 * DAY)  # its wrap-up came: pending again
    assert await journal.forget_settled(before=NOW - 30 * DAY) == 0
    entry = await journal.get("CASE")
    assert entry is not None
    assert entry.status is EntryStatus.PENDING
    assert entry.facts == {"caller": CALLER}


async def test_the_stream_is_trimmed_and_what_waits_is_still_listed(
    aredis: redis.asyncio.Redis,
) -> None:
    journal = Journal(aredis)
    for n in range(3):
        await captured(journal, f"D{n}", NOW - 40 * DAY)
        await journal.outcome(f"D{n}", "delivered", NOW - 40 * DAY)
    await captured(journal, "WAITING", NOW - 40 * DAY)
    await journal.outcome("WAITING", "unavailable", NOW, "still down")
    events = await aredis.xlen(keys.JOURNAL)

    assert await journal.trim_stream(before_ms=await stream_now_ms(aredis) + 1) == events
    assert await aredis.xlen(keys.JOURNAL) == 0
    assert [entry.case_id for entry in await journal.entries()] == ["WAITING"]
    assert [e.case_id for e in await journal.entries(EntryStatus.PENDING)] == ["WAITING"]


async def stream_now_ms(aredis: redis.asyncio.Redis) -> int:
    seconds, micros = await aredis.time()
    return int(seconds) * 1000 + int(micros) // 1000
