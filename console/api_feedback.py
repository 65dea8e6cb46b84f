"""API: the patients' answers to the Friends and Family Test question on a London day, for the
line, each queue and each handler (routing/feedback.py); a handler may read only their own."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel

from console.api_floor import own
from console.endpoints import ApiRequest
from console.errors import BadRequest
from routing.feedback import Counts, day_of

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
DAY_QUERY = {"day": "a London day, YYYY-MM-DD (default today)"}


class Figures(BaseModel):
    """Questions asked and each answer counted; `answered` all the answers; `positive_percent`
    very good or good of all answers, don't know included (NHS England's Friends and Family
    Test figure), `negative_percent` poor or very poor; both null when nobody answered."""

    asked: int
    very_good: int
    good: int
    neither: int
    poor: int
    very_poor: int
    dont_know: int
    answered: int
    positive_percent: float | None
    negative_percent: float | None

    @classmethod
    def of(cls, counts: Counts) -> Figures:
        return cls.model_validate(counts.summary())


class FeedbackDay(BaseModel):
    day: str
    line: Figures
    queues: dict[str, Figures]
    handlers: dict[str, Figures]


class HandlerFeedback(BaseModel):
    handler: str
    day: str
    figures: Figures


def day_asked(api: ApiRequest) -> str:
    day = api.query.get("day") or day_of(api.floor.clock.now())
    try:
        if DAY.fullmatch(day):
            return date.fromisoformat(day).isoformat()
    except ValueError:
        pass
    raise BadRequest(f"day must be a date as YYYY-MM-DD, such as 2026-01-31; not {day[:20]!r}")


async def feedback(api: ApiRequest) -> FeedbackDay:
    counted = await api.floor.feedback.day(day_asked(api))
    return FeedbackDay(
        day=counted.day,
        line=Figures.of(counted.line),
        queues={name: Figures.of(counts) for name, counts in sorted(counted.queues.items())},
        handlers={name: Figures.of(counts) for name, counts in sorted(counted.handlers.items())},
    )


async def handler_feedback(api: ApiRequest) -> HandlerFeedback:
    handler_id = own(api)
    day = day_asked(api)
    await api.floor.handlers.get(handler_id)  # an unknown handler is not found
    counted = await api.floor.feedback.day(day)
    return HandlerFeedback(
        handler=handler_id,
        day=counted.day,
        figures=Figures.of(counted.handlers.get(handler_id, Counts())),
    )
