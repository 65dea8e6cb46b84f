"""A caller counts as "contacted us recently" for CALLER_TTL_SECONDS on Lifeline's clock, not on
Redis's key expiry: a simulated week, run in minutes, recognises exactly whom a real one would."""

from __future__ import annotations

import pytest
import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.calls import Calls
from routing.models import Answers, Call, Placement, Priority, Reason, Screen
from routing.number_hash import caller_key
from tests.conftest import NUMBERS

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0
NUMBER = "+447700900555"
LINE = "+441134960000"


async def call_at(client: redis.asyncio.Redis, n: int, at: float) -> bool:
    """Call number `n` comes in from NUMBER at `at` and is queued; whether it was recognised."""
    calls = Calls(client, numbers=NUMBERS)
    sid = f"CA{n:032x}"
    opened = await calls.open(sid, NUMBER, LINE, Locale.EN, at)
    answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
    placement = Placement(queue="general", priority=Priority.STANDARD, route="medical")
    await calls.enqueue(Call(sid=sid, caller=NUMBER, line=LINE, answers=answers), placement, at)
    return opened.recognised


async def test_a_caller_is_recognised_within_a_day_on_lifelines_clock_and_not_after(
    aredis: redis.asyncio.Redis,
) -> None:
    assert not await call_at(aredis, 1, T0)
    assert await call_at(aredis, 2, T0 + keys.CALLER_TTL_SECONDS - 60)
    # The key has not expired by Redis's clock (seconds have passed, not a day), yet a day has
    # passed since the last call on Lifeline's.
    assert await aredis.exists(caller_key(NUMBERS, NUMBER))
    assert not await call_at(aredis, 3, T0 + 2 * keys.CALLER_TTL_SECONDS)
