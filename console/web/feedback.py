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
    queues: list[tuple[str, Counts]]  # the rule set's queues and any other answered today


async def today(page: Page) -> Today:
    counted = await page.floor.feedback.day(day_of(page.now))
    queues = set((await page.floor.rulebook.active()).queues) | set(counted.queues)
    return Today(
        day=counted.day,
        line=counted.line,
        queues=[(name, counted.queues.get(name, Counts())) for name in sorted(queues)],
    )


async def own_today(page: Page, handler_id: str) -> Counts:
    counted = await page.floor.feedback.day(day_of(page.now))
    return counted.handlers.get(handler_id, Counts())


async def wallboard_region(page: Page) -> dict[str, str]:
    return {"feedback": page.fragment("_wallboard_feedback.html", feedback=await today(page))}
