"""Who is on the floor: each handler's state, since when, why, and whether their console is
still heard from; a supervisor can take a handler off the floor (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints
from starlette.responses import Response

from console.web.forms import parse
from console.web.pages import Page, View
from console.web.sse import Feed
from routing.handlers import CHOOSABLE, HandlerState

ORDER = {state: index for index, state in enumerate(HandlerState)}


class TakeOff(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] = ""


async def floor(page: Page) -> dict[str, Any]:
    handlers = sorted(await page.floor.handlers.all(), key=lambda h: (ORDER[h.state], h.since))
    return {
        "handlers": handlers,
        "counts": {state.value: sum(h.state is state for h in handlers) for state in HandlerState},
        "can_go_offline": {
            h.profile.id
            for h in handlers
            if HandlerState.OFFLINE in CHOOSABLE[h.state] and h.state is not HandlerState.BUSY
        },
        "csrf": page.session.csrf,
    }


async def regions(page: Page) -> dict[str, str]:
    context = await floor(page)
    return {
        "handlers-table": page.fragment("_handlers_table.html", **context),
        "handlers-summary": page.fragment("_handlers_summary.html", **context),
    }


async def handlers_page(page: Page) -> Response:
    return await page.render(
        "handlers.html", title="Handlers", stream="/console/events/handlers", **await floor(page)
    )


async def take_offline(page: Page) -> Response:
    handler_id = str(page.request.path_params["handler_id"])
    form, _ = parse(TakeOff, page.form)
    reason = (form.reason if form else "") or "set offline by a supervisor"
    await page.floor.handlers.choose(handler_id, HandlerState.OFFLINE, page.now, reason)
    await page.audit("handler.state", handler_id, state=HandlerState.OFFLINE.value, reason=reason)
    return await page.done(f"{handler_id} is offline.", "/console/handlers")


async def events(page: Page) -> Response:
    async def rows() -> dict[str, str]:
        return await regions(page)

    return page.live([Feed(page.mode_region), Feed(rows)])


VIEWS = [
    View("/console/handlers", handlers_page),
    View("/console/handlers/{handler_id}/offline", take_offline, method="POST"),
    View("/console/events/handlers", events),
]
