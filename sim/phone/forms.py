"""Form-encoded bodies, parsed with the standard library (python-multipart is not a dependency)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request


async def read_form(request: Request) -> FormData:
    """Twilio's REST API takes application/x-www-form-urlencoded bodies, repeated keys allowed."""
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs: list[tuple[str, str | UploadFile]] = list(parse_qsl(body, keep_blank_values=True))
    return FormData(pairs)
