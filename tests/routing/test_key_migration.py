"""A Redis kept by an older Lifeline (keys `ll:...`) moves to today's names whole: every key, its
expiry, and the key name a callback keeps of the number it holds."""

from __future__ import annotations

import pytest
import redis.asyncio

from routing import keys
from routing.key_migration import migrate

pytestmark = pytest.mark.anyio


async def test_every_old_key_moves_with_its_expiry_and_a_callbacks_number_key_follows(
    aredis: redis.asyncio.Redis,
) -> None:
    await aredis.hset("ll:call:CA1", mapping={"status": "queued", "queue": "general"})
    await aredis.expire("ll:call:CA1", 3600)
    await aredis.zadd("ll:queue:general", {"CA1": 3 * keys.SCORE_STEP})
    await aredis.hset(
        "ll:callback:cb1", mapping={"status": "pending", "to_key": "ll:callback-to:d1"}
    )
    await aredis.set("ll:callback-to:d1", "cb1")
    await aredis.xadd("ll:journal", {"case": "C1"})
    await aredis.set("other:key", "not ours")

    done = await migrate(aredis)

    assert (done.moved, done.kept) == (5, [])
    assert await aredis.hget(keys.call("CA1"), "status") == "queued"
    assert 0 < await aredis.ttl(keys.call("CA1")) <= 3600
    assert await aredis.zscore(keys.queue("general"), "CA1") == 3 * keys.SCORE_STEP
    to_key = await aredis.hget(keys.callback("cb1"), "to_key")
    assert to_key == keys.callback_to("d1")
    assert await aredis.get(to_key) == "cb1"
    assert await aredis.xlen(keys.JOURNAL) == 1
    assert await aredis.keys("ll:*") == []
    assert await aredis.get("other:key") == "not ours"

    again = await migrate(aredis)
    assert (again.moved, again.kept) == (0, [])


async def test_an_old_key_whose_new_name_is_taken_is_left_as_it_was(
    aredis: redis.asyncio.Redis,
) -> None:
    await aredis.set("ll:rules:active", "3")
    await aredis.set(keys.RULES_ACTIVE, "4")  # written since by a process already upgraded

    done = await migrate(aredis)

    assert (done.moved, done.kept) == (0, ["ll:rules:active"])
    assert await aredis.get("ll:rules:active") == "3"
    assert await aredis.get(keys.RULES_ACTIVE) == "4"
