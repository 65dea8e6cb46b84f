"""The recordings store: kept once, found by case, last digits, handler and time, and forgotten
out of every index."""

from __future__ import annotations

from typing import cast

import pytest
import redis.asyncio

from routing import keys
from routing.audit import entry
from routing.recordings import Recording, RecordingKind, Recordings, Search
from routing.transfers import call_of_room, room_of

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0


def recording(number: int, **changes: object) -> Recording:
    fields: dict[str, object] = {
        "sid": f"RE{number:032x}",
        "call_sid": f"CA{number:032x}",
        "kind": RecordingKind.CALL,
        "case_id": f"CASE-{number}",
        "handler": "h1",
        "digits": "123",
        "queue": "general",
        "started": T0 + number * 60,
        "duration": 30,
    }
    return Recording.model_validate(fields | changes)


async def test_found_by_each_field_and_time_newest_first(aredis: redis.asyncio.Redis) -> None:
    store = Recordings(aredis)
    first, second = recording(1), recording(2, handler="h2", digits="456")
    third = recording(3, case_id="CASE-1")
    for item in (first, second, third):
        await store.add(item)

    def sids(found: list[Recording]) -> list[str]:
        return [item.sid for item in found]

    assert sids(await store.search(Search(case_id="CASE-1"))) == [third.sid, first.sid]
    assert sids(await store.search(Search(digits="0456"))) == [second.sid]
    assert sids(await store.search(Search(handler="h1"))) == [third.sid, first.sid]
    assert sids(await store.search(Search(handler="h1", digits="123", case_id="CASE-1"))) == [
        third.sid,
        first.sid,
    ]
    window = Search(since=T0 + 90, until=T0 + 150)
    assert sids(await store.search(window)) == [second.sid]
    assert sids(await store.search(Search(limit=2))) == [third.sid, second.sid]
    assert await store.search(Search(case_id="CASE-9")) == []


async def test_one_already_known_is_not_replaced_by_what_the_list_says(
    aredis: redis.asyncio.Redis,
) -> None:
    store = Recordings(aredis)
    told = recording(1)
    await store.add(told)

    listed = recording(1, handler="", case_id="", digits="")
    assert await store.add_if_new(listed) is False
    assert await store.get(told.sid) == told
    assert await store.add_if_new(recording(2)) is True


async def test_told_again_with_more_it_leaves_the_indexes_it_no_longer_belongs_in(
    aredis: redis.asyncio.Redis,
) -> None:
    store = Recordings(aredis)
    await store.add_if_new(recording(1, case_id="", handler="", digits=""))
    told = recording(1)
    await store.add(told)
    await store.add(told.model_copy(update={"handler": "h2"}))

    assert await aredis.zrange(keys.recordings_by("handler", "h1"), 0, -1) == []
    assert await aredis.zrange(keys.recordings_by("handler", "h2"), 0, -1) == [told.sid]

    await store.forget(told.model_copy(update={"handler": "h2"}))
    assert [key async for key in aredis.scan_iter(match=f"{keys.RECORDINGS}*")] == []
    assert await store.get(told.sid) is None


async def test_the_oldest_first_for_the_retention(aredis: redis.asyncio.Redis) -> None:
    store = Recordings(aredis)
    for number in (3, 1, 2):
        await store.add(recording(number))
    old = await store.older_than(T0 + 150)
    assert [item.sid for item in old] == [recording(1).sid, recording(2).sid]


async def test_the_oldest_past_those_skipped_for_a_run(aredis: redis.asyncio.Redis) -> None:
    store = Recordings(aredis)
    for number in range(1, 6):
        await store.add(recording(number))
    page = await store.older_than(T0 + 1_000, count=2, skip=2)
    assert [item.sid for item in page] == [recording(3).sid, recording(4).sid]


async def test_forgotten_and_audited_in_one_step(aredis: redis.asyncio.Redis) -> None:
    store = Recordings(aredis)
    gone = [recording(1), recording(2, handler="h2", digits="456")]
    for item in [*gone, recording(3)]:
        await store.add(item)

    await store.forget_audited(gone, entry("retention", "recordings.deleted", "2", T0, n=2))

    assert [item.sid for item in await store.search(Search())] == [recording(3).sid]
    for index in (keys.recordings_by("handler", "h2"), keys.recordings_by("digits", "456")):
        assert await aredis.exists(index) == 0
    stream = cast(list[tuple[str, dict[str, str]]], await aredis.xrange(keys.AUDIT))
    [(_, fields)] = stream
    assert (fields["action"], fields["detail"]) == ("recordings.deleted", '{"n": 2}')


def test_a_room_is_known_as_lifelines_by_its_name_alone() -> None:
    sid = "CA" + "1" * 32
    assert call_of_room(room_of(sid)) == sid
    for other in ("support-queue", "lifeline-", "lifeline-room-7", sid):
        assert call_of_room(other) is None
