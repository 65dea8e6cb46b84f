"""Business hours per service line: weekly opening in a time zone (summer time included), and
holiday dates on which the line is closed all day."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = list(Weekday)

Span = Annotated[str, Field(pattern=SPAN.pattern, examples=["08:00-20:00"])]


def span_times(span: str) -> tuple[time, time]:
    match = SPAN.match(span)
    assert match is not None
    start = time(int(match[1]), int(match[2]))
    end_hour, end_minute = int(match[3]), int(match[4])
    end = time.max if end_hour == 24 else time(end_hour, end_minute)
    return start, end


class Hours(BaseModel):
    """When a line is open; days not listed are closed. `24:00` ends a span at midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/London"
    open: dict[Weekday, tuple[Span, ...]]
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("open")
    @classmethod
    def _spans_in_order(
        cls, value: dict[Weekday, tuple[str, ...]]
    ) -> dict[Weekday, tuple[str, ...]]:
        for day, spans in value.items():
            for span in spans:
                start, end = span_times(span)
                if end <= start:
                    raise ValueError(f"{day}: {span} ends before it starts")
        return value

    def is_open(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        spans = self.open.get(WEEKDAYS[local.weekday()], ())
        moment = local.time()
        return any(start <= moment < end for start, end in map(span_times, spans))
