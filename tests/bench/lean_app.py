"""The floor under the webhooks: only what every webhook must do (read the form, check Twilio's
signature with `RequestValidator`, one Lua call on Redis), then a fixed TwiML string. Served the
same way as Lifeline and the static baseline, against the same Redis."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl

import redis.asyncio
from redis.commands.core import AsyncScript
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from config.settings import load_settings
from tests.bench.static_app import TWIML

# One webhook taking effect once: the first for its call and URL marks it (with a TTL, as every
# call-scoped key has), a retry finds the mark.
ONCE = """
local fresh = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', 3600)
return fresh and 1 or 0
"""


@dataclass(frozen=True)
class Lean:
    validator: RequestValidator
    public_base_url: str
    once: AsyncScript


async def webhook(request: Request) -> Response:
    lean: Lean = request.state.lean
    params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    query = request.url.query
    url = lean.public_base_url + request.url.path + (f"?{query}" if query else "")
    # One signature computed, as Lifeline does first (`validate` computes two: with and
    # without the port).
    expected = lean.validator.compute_signature(url, params)
    if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
        return PlainTextResponse("Request refused: X-Twilio-Signature.", status_code=403)
    key = f"bench:lean:{params.get('CallSid', '')}:{request.url.path}"
    await lean.once(keys=[key], args=["1"])
    return Response(TWIML, media_type="application/xml")


def app() -> Starlette:
    """For `uvicorn --factory`: the settings Lifeline reads (Redis, public URL, auth token)."""
    settings = load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Lean]]:
        client = redis.asyncio.Redis.from_url(str(settings.redis_url))
        try:
            yield {
                "lean": Lean(
                    validator=RequestValidator(settings.twilio_auth_token.get_secret_value()),
                    public_base_url=str(settings.public_base_url).rstrip("/"),
                    once=client.register_script(ONCE),
                )
            }
        finally:
            await client.aclose()

    return Starlette(routes=[Route("/{path:path}", webhook, methods=["POST"])], lifespan=lifespan)
