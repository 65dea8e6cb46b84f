"""Server-sent events: regions of a page rendered again on the server and sent when changed.

Each event is `region` with JSON `{"id", "html"}`; the page's script puts the HTML in place. A
stream lasts `seconds` and the browser reconnects, so each connection is checked afresh.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
from redis.exceptions import RedisError
from starlette.responses import StreamingResponse

log = logging.getLogger(__name__)

Render = Callable[[], Awaitable[dict[str, str]]]  # region id -> its HTML
RECONNECT_MS = 2000


@dataclass(frozen=True)
class Feed:
    render: Render
    every: float = 1.0  # seconds between renders


def event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


async def updates(
    feeds: list[Feed],
    alive: Callable[[], Awaitable[bool]],
    seconds: float,
    tick: float,
    once: bool = False,
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    sent: dict[str, str] = {}
    due = [0.0] * len(feeds)
    end = anyio.current_time() + seconds
    while True:
        now = anyio.current_time()
        try:
            if not await alive():
                yield event("signed-out", "{}")
                return
            for index, feed in enumerate(feeds):
                if now < due[index]:
                    continue
                due[index] = now + feed.every
                for region, html in (await feed.render()).items():
                    if sent.get(region) != html:
                        sent[region] = html
                        yield event("region", json.dumps({"id": region, "html": html}))
        except RedisError as error:  # the next tick tries again; the page keeps what it has
            log.warning("live update skipped: %s", error)
        except Exception:  # the response has begun: end it, and the browser will reconnect
            log.exception("live updates failed")
            return
        if once or now >= end:
            return
        await anyio.sleep(tick)


def stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
