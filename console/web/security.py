"""Headers on every console response: a strict content security policy (our own scripts and
styles only), no framing, no sniffing, no caching of pages, HSTS when served over https."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIXES = ("/console", "/login", "/logout")
STATIC = "/console/static/"
# Where the console is the phone, Twilio's Voice SDK also needs its script, Twilio's signalling
# and event gateways (wss:// and https:// under twilio.com) and its ringtones.
TWILIO_CONNECT = "wss://*.twilio.com https://*.twilio.com"
TWILIO_MEDIA = "https://*.twilio.com"


def policy(sdk_origin: str | None = None) -> str:
    """The content security policy: our own scripts and styles only, and, given the Voice SDK's
    origin ('' when it is served from this site), what the SDK needs."""
    script = connect = media = "'self'"
    if sdk_origin is not None:
        script = f"'self' {sdk_origin}".strip()
        connect = f"'self' {TWILIO_CONNECT}"
        media = f"'self' {TWILIO_MEDIA}"
    return (
        f"default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; media-src {media}; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, secure: bool = False, csp: str = "") -> None:
        self.app = app
        self.secure = secure
        self.csp = csp or policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if not path.startswith(STATIC):
                    headers["Cache-Control"] = "no-store"
                if self.secure:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, with_headers)
