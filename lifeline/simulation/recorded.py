"""A recorded day: each call that reached a queue, as Lifeline recorded it when it did (when it
started, the line it came in on, what the caller answered; never a number), read back so that
the simulator can replay that day's callers exactly, at their own times, with their own
answers. What nobody recorded (how long each would have waited, how long each talked) is drawn
from the demand and staffing files as for any day."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import cast

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from routing import keys
from routing.decisions import Step
from routing.figures import LONDON
from routing.menu import QUESTIONS
from routing.models import Answers, Screen


def key_for(step: Step, value: str) -> str:
    """The key a caller presses to give `value` at `step` (the IVR's own menu, routing/menu.py);
    "" (silence) for a value no key gives, such as an unanswered question."""
    return next((key for key, meant in QUESTIONS[step].keys.items() if meant == value), "")


class RecordedCall(BaseModel):
    """One call of the day: seconds after local midnight it started, whether it came in on a
    Welsh line, and the keys its caller pressed at each question ("" stayed silent)."""

    model_config = ConfigDict(frozen=True)

    started: float
    welsh_line: bool
    keys: dict[str, str]
    reason: str  # as the handle times are looked up: a reason, "emergency" or "unknown"


def keys_of(answers: Answers, welsh_line: bool) -> tuple[dict[str, str], str]:
    """The keys that give these answers (a recognised caller, asked whether they are worse
    rather than why they call, presses the reason of an existing case and then that)."""
    pressed = {"language": "1" if answers.locale and answers.locale.value == "cy-GB" else "2"}
    if not welsh_line:
        pressed.pop("language")
    if answers.screen is not None:
        pressed["emergency"] = key_for(Step.EMERGENCY, answers.screen)
    if answers.reason is not None and key_for(Step.REASON, answers.reason):
        pressed["reason"] = key_for(Step.REASON, answers.reason)
    if answers.worse is not None:
        pressed["worse"] = key_for(Step.WORSE, answers.worse)
    if answers.screen is Screen.YES:
        return pressed, "emergency"
    reason = answers.reason.value if answers.reason is not None else "unknown"
    return pressed, reason


def parse(members: Iterable[str], day: date, welsh_lines: Iterable[str]) -> list[RecordedCall]:
    midnight = datetime.combine(day, time(0), tzinfo=LONDON).timestamp()
    welsh = set(welsh_lines)
    calls = []
    for member in members:
        entry = json.loads(member)
        answers = Answers.model_validate_json(entry["answers"])
        on_welsh = entry["line"] in welsh
        pressed, reason = keys_of(answers, on_welsh)
        started = float(entry["started"]) - midnight
        calls.append(
            RecordedCall(started=started, welsh_line=on_welsh, keys=pressed, reason=reason)
        )
    return sorted(calls, key=lambda call: call.started)


async def recorded_day(redis: Redis, day: date, welsh_lines: Iterable[str]) -> list[RecordedCall]:
    members = cast(list[str], await redis.zrange(keys.recorded_day(day.isoformat()), 0, -1))
    return parse(members, day, welsh_lines)
