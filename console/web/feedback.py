"""The patients' feedback today (the Friends and Family Test question after a handled call): on
the wallboard for the line and each queue, on a handler's console their own and nobody else's."""

from __future__ import annotations

from pydantic import BaseModel

from console.web.pages import Page
from routing.feedback import Counts, day_of

EVERY_SECONDS = 5.0  # the day's answers change only as calls end


class Today(BaseModel):
    day: str
    line: Counts
    queues: list[tuple[str, Counts]]  # the active rule set's queues


async def today(page: Page) -> Today:
    """The line's and the active rule set's queues' counts, read field by field: never the
    whole day's (every handler's too), as every open wallboard asks every few seconds."""
    day = day_of(page.now)
    queues = sorted((await page.floor.rulebook.active()).queues)
    line, *each = await page.floor.feedback.of(day, "all", *(f"queue:{q}" for q in queues))
    return Today(day=day, line=line, queues=list(zip(queues, each, strict=True)))


async def own_today(page: Page, handler_id: str) -> Counts:
    [own] = await page.floor.feedback.of(day_of(page.now), f"handler:{handler_id}")
    return own


async def wallboard_region(page: Page) -> dict[str, str]:
    return {"feedback": page.fragment("_wallboard_feedback.html", feedback=await today(page))}
