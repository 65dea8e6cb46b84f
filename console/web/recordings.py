"""Recordings: a supervisor finds a call's recording by case, caller's last digits, handler or
time, and plays it in the page; the audio comes through Lifeline from Twilio, and each playback
is in the audit log."""

from __future__ import annotations

from starlette.responses import Response

from console.recording_audio import Listener, play
from console.recording_search import EXAMPLE, search_of
from console.web.forms import present
from console.web.pages import Page, View
from routing.recordings import RecordingKind, Search

KINDS = {
    RecordingKind.CALL: "Handler conversation",
    RecordingKind.CALLBACK: "Callback",
    RecordingKind.DISPATCH: "Emergency to dispatch",
    RecordingKind.ROOM: "Warm transfer",
}


async def recordings_page(page: Page) -> Response:
    asked = present({name: value.strip() for name, value in page.query.items()})
    search, errors = search_of(asked)
    found = await page.floor.recordings.search(search) if search is not None else []
    settings = page.floor.settings
    return await page.render(
        "recordings.html",
        422 if errors else 200,
        title="Recordings",
        asked=asked,
        errors=errors,
        searched=bool(asked),
        found=found,
        limit=Search().limit,
        kinds=KINDS,
        handlers=sorted(handler.profile.id for handler in await page.floor.handlers.all()),
        example=EXAMPLE,
        retention_days=settings.recording_retention_days,
        recording_now=settings.record_calls,
    )


async def audio(page: Page) -> Response:
    """Streamed from Twilio as the player asks; a 404 or 502 page says why not. Only for the
    page's own player: a link from another site (the session cookie goes with a top-level
    visit) would put a playback nobody chose in the audit log."""
    fetch = page.request.headers
    if fetch.get("sec-fetch-dest") == "document" or fetch.get("sec-fetch-site") not in (
        None,
        "same-origin",
    ):
        return Response("Play recordings from the Recordings page.", 403, media_type="text/plain")
    listener = Listener(
        actor=page.user.username,
        method=page.request.method,
        headers=page.request.headers,
        detail={},
    )
    sid = str(page.request.path_params["sid"])
    return await play(page.floor, page.console.media, sid, listener)


VIEWS = [
    View("/console/recordings", recordings_page),
    View("/console/recordings/{sid}/audio", audio),
]
