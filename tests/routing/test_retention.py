"""Patient data kept only as long as needed: after the retention period a delivered journal entry
keeps what the audit and the statistics need, the stream is trimmed, and nothing pending or
refused is ever touched."""

from __future__ import annotations

import json

import pytest
import redis.asyncio

from routing import keys
from routing.journal import FAILED, OPEN_FIRST, PENDING, WALKED, EntryStatus, Journal

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


async def delivered_before_retention(
    aredis: redis.asyncio.Redis, case_id: str, at: float, outcome: str = "delivered"
) -> None:
    """An entry captured at `at` and settled a minute later as the journal did before entries
    were indexed when delivered (commit 7b4cf42): the same hash, in no set once settled."""
    await kept_before_retention(aredis, case_id, at)
    entry = keys.journal_entry(case_id)
    await aredis.hincrby(entry, "attempts", 1)
    await aredis.zrem(PENDING, case_id)
    if outcome == "failed":
        await aredis.hset(entry, mapping={"status": "failed", "error": "422 from the system"})
        await aredis.zadd(FAILED, {case_id: at + 60})
    else:
        await aredis.hset(
            entry, mapping={"status": outcome, "delivered": repr(at + 60), "error": ""}
        )
    await aredis.hincrby(keys.JOURNAL_COUNTS, outcome, 1)
    await aredis.xadd(keys.JOURNAL, {"event": outcome, "case_id": case_id, "at": repr(at + 60)})


async def kept_before_retention(aredis: redis.asyncio.Redis, case_id: str, at: float) -> None:
    """An entry captured at `at` as the journal did before commit 7b4cf42, still pending."""
    bundle = {"resourceType": "Bundle", "entry": [{"telecom": CALLER}]}
    await aredis.hset(
        keys.journal_entry(case_id),
        mapping={
            "case_id": case_id,
            "kind": "callback",
            "captured": repr(at),
            "open": "0",
            "status": "pending",
            "facts": json.dumps({"caller": CALLER}),
            "bundle": json.dumps(bundle),
            "notes": "chest pain",
            "attempts": 0,
        },
    )
    await aredis.zadd(PENDING, {case_id: OPEN_FIRST + int(at * 1000)})
    await aredis.hincrby(keys.JOURNAL_COUNTS, "captured", 1)
    await aredis.xadd(
        keys.JOURNAL, {"event": "captured", "case_id": case_id, "kind": "callback", "at": repr(at)}
    )


async def test_an_entry_delivered_before_entries_were_indexed_is_forgotten_all_the_same(
    aredis: redis.asyncio.Redis,
) -> None:
    await delivered_before_retention(aredis, "DELIVERED", NOW - 400 * DAY)
    await delivered_before_retention(aredis, "DUPLICATE", NOW - 400 * DAY, "duplicate")
    await delivered_before_retention(aredis, "REFUSED", NOW - 400 * DAY, "failed")
    await kept_before_retention(aredis, "PENDING", NOW - 400 * DAY)
    await delivered_before_retention(aredis, "RECENT", NOW - 2 * DAY)
    journal = Journal(aredis)

    assert await journal.forget_settled(before=NOW - 30 * DAY) == 2

    for case_id in ("DELIVERED", "DUPLICATE"):
        entry = await journal.get(case_id)
        assert entry is not None
        assert (entry.facts, entry.bundle, entry.notes) == ({}, {}, "")
        assert (entry.captured, entry.delivered) == (NOW - 400 * DAY, NOW - 400 * DAY + 60)
        raw = await aredis.hgetall(keys.journal_entry(case_id))
        assert not any(CALLER in value or "chest pain" in value for value in raw.values())
    for case_id in ("REFUSED", "PENDING", "RECENT"):
        entry = await journal.get(case_id)
        assert entry is not None
        assert (entry.facts, entry.notes) == ({"caller": CALLER}, "chest pain")
    assert await journal.next_pending() == ["PENDING"]
    assert await journal.forget_settled(before=NOW - 30 * DAY) == 0  # once only
    # Indexed by when it was delivered: forgotten once that is past the period, too.
    assert await journal.forget_settled(before=NOW - DAY) == 1
    recent = await journal.get("RECENT")
    assert recent is not None
    assert (recent.facts, recent.notes) == ({}, "")


async def test_the_walk_over_old_entries_goes_in_small_batches_and_on_where_it_stopped(
    aredis: redis.asyncio.Redis,
) -> None:
    for n in range(40):
        await delivered_before_retention(aredis, f"D{n}", NOW - 400 * DAY)
    journal = Journal(aredis)

    first = await journal.forget_settled(before=NOW - 30 * DAY, batch=5, batches=1, walk=5)
    assert first <= 5  # a batch
    total = first
    for _ in range(40):
        total += await journal.forget_settled(before=NOW - 30 * DAY, batch=5, batches=1, walk=5)
    assert total == 40
    assert await aredis.get(WALKED) == "done"  # the keyspace is not walked again
    for n in range(40):
        entry = await journal.get(f"D{n}")
        assert entry is not None
        assert entry.notes == ""
