"""Every request's body read with a running byte limit, before any route sees it: a body that
says it is too large, or turns out to be (sent in chunks with no length), is refused with 413
and the connection closed, never read into memory."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024

# The longest path prefix that matches decides; generous for what each part legitimately takes.
LIMITS: Sequence[tuple[str, int]] = (
    ("/twilio/", 64 * KIB),  # Twilio's forms are a few hundred bytes
    ("/login", 8 * KIB),
    ("/logout", 8 * KIB),
    ("/api/", 512 * KIB),  # a rule set document, as JSON
    ("/console/", 512 * KIB),  # the rule editor's form
)
DEFAULT_LIMIT = 16 * KIB


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
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > limit:
                await refuse(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # what comes after the body: a disconnect

        await self.app(scope, replay, send)


async def refuse(send: Send, limit: int) -> None:
    text = f"Request refused: the body is over {limit} bytes.".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
