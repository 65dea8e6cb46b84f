"""Patient data kept only as long as needed: a callback closed (done or cancelled) more than the
retention period ago keeps what the audit and the statistics need; nothing live or waiting for a
clinician is ever touched, however old."""

from __future__ import annotations

from typing import cast

import pytest
import redis.asyncio

from routing import keys
from routing.callback_retention import CallbackRetention
from routing.callbacks import CallbackStatus
from routing.figures import Window
from routing.stats import Stats
from tests.routing.test_callbacks import (
    T0,
    book,
    callbacks_of,
    hire,
    make_unreachable,
    try_once,
)

pytestmark = pytest.mark.anyio

DAY = 86_400.0
PERIOD = 30 * DAY
NOTES = "chest pain since Tuesday"


async def made(client: redis.asyncio.Redis, n: int, at: float) -> str:
    """A callback booked at `at`, made to the patient a minute later and done a minute after."""
    callback_id = await book(client, n, at, caller=f"+4477009{n:05d}")
    await hire(client, f"h{n}", at)
    assert await try_once(client, callback_id, "answered", at + 60) == "connected"
    assert await callbacks_of(client).done(callback_id, at + 120)
    return callback_id


async def cancelled(client: redis.asyncio.Redis, n: int, at: float) -> str:
    callback_id = await book(client, n, at, caller=f"+4477009{n:05d}")
    assert await callbacks_of(client).cancel(callback_id, "sue", NOTES, at + 60) == "cancelled"
    return callback_id


async def identifying(client: redis.asyncio.Redis, callback_id: str) -> list[str]:
    """What of the callback's hash and history could tell who the patient was."""
    raw = cast(dict[str, str], await client.hgetall(keys.callback(callback_id)))
    history = cast(list[str], await client.lrange(keys.callback(callback_id) + ":history", 0, -1))
    found = [
        name for name in ("number", "caller", "answers", "call_sid", "to_key") if raw.get(name)
    ]
    found += [name for name in raw if name.startswith(("outbound:", "machine:"))]
    found += [row for row in history if "number_ending" in row or NOTES in row]
    return found


async def test_a_callback_closed_past_the_period_keeps_only_what_the_audit_needs(
    aredis: redis.asyncio.Redis,
) -> None:
    now = T0 + 100 * DAY
    done = await made(aredis, 1, now - PERIOD - 2 * DAY)
    gone = await cancelled(aredis, 2, now - PERIOD - 2 * DAY)
    callbacks = callbacks_of(aredis)
    before = {cid: await callbacks.get(cid) for cid in (done, gone)}

    assert await CallbackRetention(aredis).forget_closed(now - PERIOD) == 2

    for callback_id in (done, gone):
        assert await identifying(aredis, callback_id) == []
        kept = await callbacks.get(callback_id)
        was = before[callback_id]
        assert (kept.case_id, kept.status, kept.priority, kept.queue) == (
            was.case_id,
            was.status,
            was.priority,
            was.queue,
        )
        assert (kept.created, kept.arrival, kept.ended_at, kept.attempts) == (
            was.created,
            was.arrival,
            was.ended_at,
            was.attempts,
        )
        assert (kept.number, kept.answers, kept.reason) == ("", None, "")
    events = [entry.event for entry in await callbacks.history(done)]
    assert events == ["booked", "connected", "done"]  # what happened, when, by which handler
    assert (await callbacks.history(done))[1].detail == {"attempt": 1, "handler": "h1"}
    assert (await callbacks.history(gone))[-1].detail == {"by": "sue"}
    # Listed and counted as before.
    assert {c.id for c in await callbacks.latest()} == {done, gone}
    assert [c.id for c in await callbacks.with_status(CallbackStatus.DONE)] == [done]
    assert await CallbackRetention(aredis).forget_closed(now - PERIOD) == 0  # once only


async def test_nothing_live_or_unreachable_is_touched_however_old_nor_anything_recent(
    aredis: redis.asyncio.Redis,
) -> None:
    now = T0 + 400 * DAY
    unreachable = await book(aredis, 2, T0)
    pending = await book(aredis, 1, await make_unreachable(aredis, unreachable, T0))
    recent = await cancelled(aredis, 3, now - DAY)
    whole = {
        cid: await aredis.hgetall(keys.callback(cid)) for cid in (pending, unreachable, recent)
    }

    assert await CallbackRetention(aredis).forget_closed(now - PERIOD) == 0

    for callback_id, fields in whole.items():
        assert await aredis.hgetall(keys.callback(callback_id)) == fields
    live = await callbacks_of(aredis).live_for("+447700900001")
    assert live is not None
    assert live.id == pending  # still the caller's: one live callback per number holds


async def test_a_live_callback_closed_later_is_forgotten_once_the_period_has_passed_since(
    aredis: redis.asyncio.Redis,
) -> None:
    callback_id = await book(aredis, 1, T0)
    await book(aredis, 2, T0 + 1)  # booked after it, and still live
    retention = CallbackRetention(aredis)
    assert await retention.forget_closed(T0 + 10 * DAY) == 0  # both live then: walked past
    await callbacks_of(aredis).cancel(callback_id, "caller", NOTES, T0 + 20 * DAY)

    assert await retention.forget_closed(T0 + 19 * DAY) == 0
    assert await retention.forget_closed(T0 + 21 * DAY) == 1
    assert (await callbacks_of(aredis).get(callback_id)).number == ""


async def test_callbacks_closed_before_the_index_existed_are_found_by_their_booking_time(
    aredis: redis.asyncio.Redis,
) -> None:
    old = [await cancelled(aredis, n, T0 + n) for n in range(1, 6)]
    await aredis.delete(keys.CALLBACKS_CLOSED)  # as an earlier version left them

    assert await CallbackRetention(aredis).forget_closed(T0 + 50 * DAY, batch=2) == 5

    for callback_id in old:
        assert await aredis.hget(keys.callback(callback_id), "number") == ""


async def test_a_long_backlog_is_worked_through_in_small_batches(
    aredis: redis.asyncio.Redis,
) -> None:
    for n in range(1, 8):
        await cancelled(aredis, n, T0 + n)
    retention = CallbackRetention(aredis)

    assert await retention.forget_closed(T0 + 50 * DAY, batch=2, batches=2) == 4
    assert await retention.forget_closed(T0 + 50 * DAY, batch=2, batches=2) == 3


async def test_the_callback_statistics_count_the_same_after_forgetting(
    aredis: redis.asyncio.Redis,
) -> None:
    now = T0 + DAY / 2
    await made(aredis, 1, T0)
    await cancelled(aredis, 2, T0)
    stats = Stats(aredis)
    counted = await stats.callbacks(Window.TODAY, now)

    # A retention period shorter than a day, so that the statistics still hold the samples.
    assert await CallbackRetention(aredis).forget_closed(now - 3600) == 2

    assert await stats.callbacks(Window.TODAY, now) == counted
    assert (counted[0].accepted, counted[0].made, counted[0].cancelled) == (2, 1, 1)
