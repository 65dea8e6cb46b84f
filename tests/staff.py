"""Handlers for tests, made through the real Handlers store (never written into Redis by hand)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio

from routing.handlers import Device, HandlerProfile, Handlers, HandlerState

Staff = Callable[..., None]


def make_staff(redis_url: str, now: float) -> Staff:
    def staff(
        *handler_ids: str,
        state: HandlerState = HandlerState.BUSY,
        skills: dict[str, int] | None = None,
    ) -> None:
        async def go() -> None:
            client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
            try:
                handlers = Handlers(client)
                for handler_id in handler_ids:
                    profile = HandlerProfile(
                        id=handler_id,
                        name=handler_id.title(),
                        skills=skills or {},
                        device=Device(kind="client", address=handler_id),
                    )
                    await handlers.create(profile, now)
                    await handlers.transition(handler_id, state, now, tuple(HandlerState))
            finally:
                await client.aclose()

        asyncio.run(go())

    return staff


def set_state(redis_url: str, handler_id: str, state: HandlerState, now: float) -> None:
    """Move a handler to `state` from wherever they are (as the system or the sweep would)."""

    async def go() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await Handlers(client).transition(handler_id, state, now, tuple(HandlerState))
        finally:
            await client.aclose()

    asyncio.run(go())
