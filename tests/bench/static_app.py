"""The baseline: a minimal Starlette app answering a fixed TwiML string, served the same way."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://example.org/next" '
    'input="dtmf" numDigits="1" timeout="5"><Say voice="Polly.Amy" language="en-GB">If the person '
    "is unconscious, press 1.</Say></Gather></Response>"
)


async def fixed(request: Request) -> Response:
    await request.body()
    return Response(TWIML, media_type="application/xml")


def app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", fixed, methods=["POST"])])
