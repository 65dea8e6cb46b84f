"""The patient's feedback: the NHS Friends and Family Test question ("Overall, how was your
experience of our service?"), asked by keypad on the caller's own line once their handler has
ended the call, and the answers counted per queue, handler and day (London).

Who is asked is the rule set's (`feedback`): a share of callers, chosen by their call so that a
repeated request decides the same; never after an emergency nor while degraded unless the rules
say so. Each call's question is counted once when asked and its answer once, whatever Twilio
repeats: the response rate is answers over questions asked.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.figures import LONDON
from routing.lua import argument
from routing.rules import FeedbackRule

KEPT_DAYS = 400  # a year of days to compare, and the same day last year
ASKED = "asked"
ASKS = 2  # the question, and once more after a key that is not an answer


class Answer(StrEnum):
    VERY_GOOD = "very_good"
    GOOD = "good"
    NEITHER = "neither"
    POOR = "poor"
    VERY_POOR = "very_poor"
    DONT_KNOW = "dont_know"


KEYS = dict(zip("123456", Answer, strict=True))
POSITIVE = (Answer.VERY_GOOD, Answer.GOOD)
NEGATIVE = (Answer.POOR, Answer.VERY_POOR)


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, LONDON).date().isoformat()


def chosen(call_sid: str, share: float) -> bool:
    """Whether this call is among the share asked: the same answer for the same call."""
    digest = hashlib.sha256(call_sid.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def wanted(
    rule: FeedbackRule,
    call_sid: str,
    queue: str,
    emergency: bool,
    degraded: bool,
    callback: bool = False,
) -> bool:
    """Whether the rules ask this caller, whose handler has just ended the call."""
    if emergency and not rule.after_emergency:
        return False
    if degraded and not rule.in_degraded:
        return False
    if callback and not rule.after_callbacks:
        return False
    if rule.queues and queue not in rule.queues:
        return False
    return chosen(call_sid, rule.share)


# KEYS: the day's counts, the call's mark. a: stage ("asked" or the answer), fields, ttl.
# The mark says how far the call has come: asked once, answered once.
_COUNT = """
local a = cjson.decode(ARGV[1])
local mark = redis.call('GET', KEYS[2])
if a.stage == 'asked' then
  if mark then return 0 end
elseif mark == 'answered' then
  return 0
end
redis.call('SET', KEYS[2], a.stage == 'asked' and 'asked' or 'answered', 'EX', a.ttl)
for _, field in ipairs(a.fields) do
  redis.call('HINCRBY', KEYS[1], field, 1)
end
redis.call('EXPIRE', KEYS[1], a.kept)
return 1
"""


def _fields(stage: str, queue: str, handler: str) -> list[str]:
    return [f"{stage}|all", f"{stage}|queue:{queue}", f"{stage}|handler:{handler}"]


class Counts(BaseModel):
    """One queue's, one handler's or the whole line's answers on a day."""

    asked: int = 0
    very_good: int = 0
    good: int = 0
    neither: int = 0
    poor: int = 0
    very_poor: int = 0
    dont_know: int = 0

    @property
    def answered(self) -> int:
        return sum(getattr(self, answer.value) for answer in Answer)

    @property
    def positive_percent(self) -> float | None:
        """NHS England's FFT figure: very good and good, of all answers (don't know included)."""
        if not self.answered:
            return None
        good: int = sum(getattr(self, answer.value) for answer in POSITIVE)
        return round(100 * good / self.answered, 1)

    @property
    def negative_percent(self) -> float | None:
        if not self.answered:
            return None
        poor: int = sum(getattr(self, answer.value) for answer in NEGATIVE)
        return round(100 * poor / self.answered, 1)

    def summary(self) -> dict[str, object]:
        return self.model_dump() | {
            "answered": self.answered,
            "positive_percent": self.positive_percent,
            "negative_percent": self.negative_percent,
        }


class Day(BaseModel):
    day: str
    line: Counts = Counts()
    queues: dict[str, Counts] = {}
    handlers: dict[str, Counts] = {}


class FeedbackCounts:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._count = redis.register_script(_COUNT)

    async def _add(self, call_sid: str, stage: str, queue: str, handler: str, day: str) -> bool:
        counted = await self._count(
            keys=[keys.feedback_day(day), keys.feedback_answered(call_sid)],
            args=argument(
                stage=stage,
                fields=_fields(stage, queue, handler),
                ttl=2 * 86_400,
                kept=KEPT_DAYS * 86_400,
            ),
        )
        return bool(counted)

    async def asked(self, call_sid: str, queue: str, handler: str, day: str) -> bool:
        return await self._add(call_sid, ASKED, queue, handler, day)

    async def answered(
        self, call_sid: str, answer: Answer, queue: str, handler: str, day: str
    ) -> bool:
        """Counted on `day`, the day it was asked: a day's answers never outnumber its
        questions, whenever midnight falls."""
        return await self._add(call_sid, answer.value, queue, handler, day)

    async def of(self, day: str, *whose: str) -> list[Counts]:
        """Queues' (`queue:name`), handlers' (`handler:id`) or the line's (`all`) counts on a
        day, in one read of their own fields: never every handler's, as the whole day is."""
        stages = [ASKED, *(answer.value for answer in Answer)]
        fields = [f"{stage}|{who}" for who in whose for stage in stages]
        found = iter(await self.redis.hmget(keys.feedback_day(day), fields) if fields else [])
        return [Counts(**{stage: int(next(found) or 0) for stage in stages}) for _ in whose]

    async def day(self, day: str) -> Day:
        found = await self.redis.hgetall(keys.feedback_day(day))
        result = Day(day=day)
        for field, count in found.items():
            stage, _, whose = str(field).partition("|")
            if stage != ASKED and stage not in Answer.__members__.values():
                continue
            kind, _, name = whose.partition(":")
            if kind == "all":
                counts = result.line
            elif kind == "queue":
                counts = result.queues.setdefault(name, Counts())
            elif kind == "handler":
                counts = result.handlers.setdefault(name, Counts())
            else:
                continue
            setattr(counts, stage, getattr(counts, stage) + int(count))
        return result
