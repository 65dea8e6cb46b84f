"""Which wrap-up of a call this is: the same one sent twice is one, a correction the next, and
a record wrapped up before wrap-ups were counted has had one."""

from __future__ import annotations

import pytest
import redis.asyncio

from routing import keys
from routing.wrapup import WrapUpOutcome, record

pytestmark = pytest.mark.anyio

CALL = "CA" + "1" * 32
T0 = 1_767_225_600.0


async def test_the_same_wrap_up_twice_is_one_and_a_correction_the_next(
    aredis: redis.asyncio.Redis,
) -> None:
    first = await record(aredis, CALL, "h1", WrapUpOutcome.REFERRED, "GP", T0)
    again = await record(aredis, CALL, "h1", WrapUpOutcome.REFERRED, "GP", T0 + 1)
    corrected = await record(aredis, CALL, "h1", WrapUpOutcome.AMBULANCE, "GP", T0 + 2)
    noted = await record(aredis, CALL, "h1", WrapUpOutcome.AMBULANCE, "chest pain", T0 + 3)

    assert (first, again, corrected, noted) == (1, 1, 2, 3)
    assert await aredis.hget(keys.call(CALL), "wrap_up_notes") == "chest pain"


async def test_a_call_wrapped_up_before_wrap_ups_were_counted_is_corrected_as_the_second(
    aredis: redis.asyncio.Redis,
) -> None:
    await aredis.hset(
        keys.call(CALL), mapping={"wrap_up_outcome": "referred", "wrap_up_notes": "GP"}
    )

    assert await record(aredis, CALL, "h1", WrapUpOutcome.AMBULANCE, "", T0) == 2
