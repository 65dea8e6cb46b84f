"""Every request's body read with a running byte limit and a deadline, before any route sees it:
a body that says it is too large, or turns out to be (sent in chunks with no length), is refused
with 413, and one that stops coming with 408, the connection closed either way, never read into
memory nor held open."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024

# The longest path prefix that matches decides; generous for what each part legitimately takes.
LIMITS: Sequence[tuple[str, int]] = (
    ("/twilio/", 16 * KIB),  # Twilio's forms are a few hundred bytes to a few KiB
    ("/login", 8 * KIB),
    ("/logout", 8 * KIB),
    ("/api/", 512 * KIB),  # a rule set document, as JSON
    ("/console/", 512 * KIB),  # the rule editor's form
)
# The webhooks' process, the only one open to the internet, serves /twilio/ alone: a body for
# any other path is refused before it is read.
WEBHOOKS_LIMITS: Sequence[tuple[str, int]] = (("/twilio/", 16 * KIB), ("/", 0))
DEFAULT_LIMIT = 16 * KIB
BODY_SECONDS = 10.0  # for the whole body, once the headers are in


def limit_for(path: str, limits: Sequence[tuple[str, int]] = LIMITS) -> int:
    matching = [(len(prefix), limit) for prefix, limit in limits if path.startswith(prefix)]
    return max(matching)[1] if matching else DEFAULT_LIMIT


class BodyLimit:
    """ASGI middleware: reads the body up to the path's limit, then hands it on whole."""

    def __init__(self, app: ASGIApp, limits: Sequence[tuple[str, int]] = LIMITS) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], self.limits)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(send, limit)
            return
        try:
            async with asyncio.timeout(BODY_SECONDS):
                whole = await read_within(receive, limit)
        except TimeoutError:
            await answer(send, 408, "Request refused: the body did not arrive in time.")
            return
        if whole is None:  # the client went away
            return
        if len(whole) > limit:
            await refuse(send, limit)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # what comes after the body: a disconnect

        await self.app(scope, replay, send)


async def read_within(receive: Receive, limit: int) -> bytes | None:
    """The body, or as much as crossed the limit; None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body: bytes = message.get("body", b"")
        size += len(body)
        chunks.append(body)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)


async def refuse(send: Send, limit: int) -> None:
    await answer(send, 413, f"Request refused: the body is over {limit} bytes.")


async def answer(send: Send, status: int, message: str) -> None:
    text = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
