"""The agenda: work handed out when due on Lifeline's clock, once to one sweep, and again later
if its job never reported back."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from routing.agenda import AGENDA, REDELIVER_SECONDS, REPLAY_BATCH, Agenda, CallbackCall

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0
FIRST = CallbackCall(callback="7K2QX-M9D4A", handler="h1", offer=1)
SECOND = CallbackCall(callback="7K2QX-M9D4A", handler="h1", offer=2)


async def test_work_is_handed_out_when_due_and_not_before(aredis: redis.asyncio.Redis) -> None:
    agenda = Agenda(aredis)
    await agenda.put(FIRST, T0 + 2)
    await agenda.put(REPLAY_BATCH, T0 + 1)
    await agenda.put(SECOND, T0 + 3)
    assert await agenda.take_due(T0 + 0.5) == []
    assert await agenda.take_due(T0 + 2) == [REPLAY_BATCH, FIRST]  # earliest first
    assert await agenda.take_due(T0 + 2.5) == []  # handed out: not again at once


async def test_work_whose_job_never_reports_back_is_handed_out_again(
    aredis: redis.asyncio.Redis,
) -> None:
    agenda = Agenda(aredis)
    await agenda.put(FIRST, T0)
    assert await agenda.take_due(T0) == [FIRST]
    assert await agenda.when(FIRST) == T0 + REDELIVER_SECONDS
    assert await agenda.take_due(T0 + REDELIVER_SECONDS - 1) == []
    assert await agenda.take_due(T0 + REDELIVER_SECONDS) == [FIRST]


async def test_a_job_that_reschedules_or_removes_its_work_is_heard(
    aredis: redis.asyncio.Redis,
) -> None:
    agenda = Agenda(aredis)
    await agenda.put(FIRST, T0)
    await agenda.put(SECOND, T0)
    await agenda.take_due(T0)
    await agenda.put(FIRST, T0 + 1)  # its calling slot is a second away
    await agenda.remove(SECOND)  # placed
    assert await agenda.take_due(T0 + 1) == [FIRST]
    assert await agenda.when(SECOND) is None


async def test_sweeps_at_once_never_take_the_same_work(
    aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    agenda = Agenda(aredis)
    items = [CallbackCall(callback=f"C{n:04d}", handler="h1", offer=1) for n in range(50)]
    for n, item in enumerate(items):
        await agenda.put(item, T0 + n / 100)
    clients = [redis.asyncio.Redis.from_url(redis_url, decode_responses=True) for _ in range(4)]
    try:
        taken = await asyncio.gather(*(Agenda(c).take_due(T0 + 1, most=20) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    handed_out = [item for each in taken for item in each]
    assert sorted(handed_out, key=str) == sorted(items, key=str)  # each once, none lost


async def test_an_item_it_cannot_read_is_dropped_not_handed_out_for_ever(
    aredis: redis.asyncio.Redis,
) -> None:
    await aredis.zadd(AGENDA, {'{"kind": "simulation"}': T0})
    agenda = Agenda(aredis)
    await agenda.put(FIRST, T0)
    assert await agenda.take_due(T0) == [FIRST]
    assert await aredis.zcard(AGENDA) == 1
