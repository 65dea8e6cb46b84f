"""The patient's path has Redis connections of its own: a flood of unauthenticated health checks
draws on a few connections of its own and cannot take those a caller's webhook needs."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import cast

import httpx
import redis
from starlette.testclient import TestClient

from config.settings import Settings
from lifeline.app import HEALTH_CONNECTIONS, create_app
from tests.conftest import AUTH_TOKEN, CALLER, MAIN_LINE, PUBLIC_BASE_URL
from tests.sim.servers import free_port, serve
from tests.twilio import Call, TwilioClient, Twiml

FLOOD = 400  # four times a connection pool's worth, all waiting on Redis at once
PAUSE_MS = 1500


def connections(sync_redis: redis.Redis) -> Counter[str]:
    """The server's clients by name."""
    return Counter(str(client.get("name", "")) for client in sync_redis.client_list())


async def flood_and_press(
    base: str, call: Call, twiml: Twiml, sync_redis: redis.Redis
) -> tuple[list[int], Twiml, Counter[str]]:
    limits = httpx.Limits(max_connections=FLOOD + 10)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        health = [asyncio.create_task(client.get("/readyz")) for _ in range(FLOOD)]
        await asyncio.sleep(1.0)  # the health checks in, waiting on Redis
        # A health check's connection that timed out is replaced by a new one, and the server
        # may list both for a moment: the fewest of a few looks is what the flood holds.
        looks = []
        for _ in range(3):
            looks.append(await asyncio.to_thread(connections, sync_redis))
            await asyncio.sleep(0.05)
        during = min(looks, key=lambda look: sum(look.values()))
        queued = await asyncio.to_thread(call.press, twiml, "1")  # a medical problem
        answers = await asyncio.gather(*health)
    return [answer.status_code for answer in answers], queued, during


def test_a_flood_of_health_checks_cannot_take_a_callers_redis_connections(
    settings: Settings, sync_redis: redis.Redis
) -> None:
    with (
        serve(create_app(settings), free_port()) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        # Twilio's requests over the network: TwilioClient needs only a client's `post`.
        twilio = TwilioClient(cast(TestClient, http), AUTH_TOKEN, PUBLIC_BASE_URL)
        call = twilio.call(CALLER, MAIN_LINE)
        reason = call.press(call.start(), "2")  # not an emergency: asked the reason
        before = connections(sync_redis)
        sync_redis.client_pause(PAUSE_MS, all=True)  # Redis slow to answer
        statuses, queued, during = asyncio.run(flood_and_press(base, call, reason, sync_redis))

    assert during["lifeline-health"] <= HEALTH_CONNECTIONS
    assert during["lifeline-web"] == before["lifeline-web"]  # it took none of them
    assert sum(during.values()) <= sum(before.values()) + HEALTH_CONNECTIONS  # nor any other
    assert "computer system is not working" not in queued.text
    assert queued.first("Enqueue").text == "general"
    assert set(statuses) <= {200, 503}  # health checks waited, or said not ready
