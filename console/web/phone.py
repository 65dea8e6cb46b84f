"""The handler's console as their phone: Twilio's Voice JavaScript SDK in the page, registered with
a short-lived access token (signed with the API key) for the handler's Twilio Client identity.

Only where the settings name an API key and the SDK's location; elsewhere, and in local runs, a
handler's calls ring their device on the phone network (the simulated one locally).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from config.settings import Settings
from console.web.auth import EVERYONE
from console.web.handler_console import PHONE_SIGN_IN
from console.web.pages import Page, Problem, View

TOKEN_SECONDS = 3600  # the page asks for a new one before it runs out (tokenWillExpire)


def access_token(settings: Settings, identity: str) -> str:
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key_sid,
        settings.twilio_api_key_secret.get_secret_value(),
        identity=identity,
        ttl=TOKEN_SECONDS,
    )
    token.add_grant(VoiceGrant(incoming_allow=True))  # calls come to handlers; none go out
    return str(token.to_jwt())


def sdk_origin(settings: Settings) -> str:
    """Where the SDK's script comes from, for the content security policy ('' for this site)."""
    parts = urlsplit(settings.twilio_voice_sdk_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


async def phone_token(page: Page) -> Response:
    settings = page.floor.settings
    if not settings.softphone:
        raise Problem(404, "The console is not a phone here: calls ring your device.")
    handler = await page.floor.handlers.get(page.user.handler)
    device = handler.profile.device
    if device.kind != "client":
        raise Problem(409, "Your calls ring a telephone number, not the console.")
    return JSONResponse(
        {
            "identity": device.address,
            "token": access_token(settings, device.address),
            "expires_in": TOKEN_SECONDS,
        },
        headers={"Cache-Control": "no-store"},
    )


VIEWS = [View(PHONE_SIGN_IN, phone_token, EVERYONE, for_handlers=True)]
