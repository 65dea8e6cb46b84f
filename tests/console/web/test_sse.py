"""Server-sent events: a region is sent when it changes, and the stream ends with the session."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from console.web.sse import Feed, event, updates

pytestmark = pytest.mark.anyio


async def collect(feeds: list[Feed], alive: list[bool], seconds: float) -> list[str]:
    async def still() -> bool:
        return alive.pop(0) if len(alive) > 1 else alive[0]

    return [chunk async for chunk in updates(feeds, still, seconds, tick=0.01)]


async def test_a_region_is_sent_first_and_then_only_when_it_changes() -> None:
    renders = iter(["<p>1</p>", "<p>1</p>", "<p>2</p>", "<p>2</p>"])

    async def render() -> dict[str, str]:
        return {"summary": next(renders, "<p>2</p>")}

    sent = await collect([Feed(render, every=0.0)], [True], seconds=0.05)
    assert sent[0] == "retry: 2000\n\n"
    regions = [chunk for chunk in sent if chunk.startswith("event: region")]
    assert regions == [
        'event: region\ndata: {"id": "summary", "html": "<p>1</p>"}\n\n',
        'event: region\ndata: {"id": "summary", "html": "<p>2</p>"}\n\n',
    ]


async def test_the_stream_ends_when_the_session_does() -> None:
    async def render() -> dict[str, str]:
        return {"mode": "<p>normal</p>"}

    sent = await collect([Feed(render)], [True, False], seconds=10.0)
    assert sent[-1] == "event: signed-out\ndata: {}\n\n"


async def test_an_unreachable_store_skips_a_tick_rather_than_ending_the_stream() -> None:
    failures = [RedisConnectionError("gone")]

    async def render() -> dict[str, str]:
        if failures:
            raise failures.pop()
        return {"mode": "<p>back</p>"}

    sent = await collect([Feed(render, every=0.0)], [True], seconds=0.05)
    assert 'event: region\ndata: {"id": "mode", "html": "<p>back</p>"}\n\n' in sent


def test_each_line_of_data_is_its_own_data_field() -> None:
    assert event("x", "a\nb") == "event: x\ndata: a\ndata: b\n\n"
