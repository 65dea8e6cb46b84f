"""The nouns of a call: what the caller told the IVR, where the call is placed, and its record."""

from __future__ import annotations

import base64
import hashlib
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from prompts.catalogue import Locale

Sid = Annotated[str, Field(pattern=r"^CA[0-9a-fA-F]{32}$")]
QueueName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Skill = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Priority(IntEnum):
    """Lower is more urgent; ordering by the integer is the whole point."""

    EMERGENCY = 1
    URGENT = 2
    STANDARD = 3
    ROUTINE = 4
    LOW = 5


class Screen(StrEnum):
    """The outcome of the emergency screen."""

    YES = "emergency"
    NO = "not_emergency"
    UNANSWERED = "unanswered"


class Reason(StrEnum):
    MEDICAL = "medical"
    MENTAL_HEALTH = "mental_health"
    DENTAL = "dental"
    MEDICINES = "medicines"
    EXISTING_CASE = "existing_case"
    UNKNOWN = "unknown"


class Worse(StrEnum):
    """The answer to "have the symptoms got worse?" (YAML would read a bare yes/no as a boolean)."""

    YES = "worse"
    NO = "not_worse"
    UNANSWERED = "unanswered"


class CallStatus(StrEnum):
    IVR = "ivr"
    QUEUED = "queued"
    RESERVED = "reserved"
    CONNECTED = "connected"
    DISPATCHED = "dispatched"
    DIVERTED = "diverted"
    CALLBACK = "callback"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


TERMINAL = frozenset({CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.CALLBACK})


class Answers(BaseModel):
    """What the caller has told the IVR so far; `None` means not asked yet."""

    model_config = ConfigDict(frozen=True)

    locale: Locale | None = None
    screen: Screen | None = None
    reason: Reason | None = None
    worse: Worse | None = None
    repeat: bool = False
    has_callback: bool = False  # the caller has a callback still to be made
    callback_choice: str | None = None  # keep, worse, cancel, unanswered

    @property
    def language(self) -> Locale:
        """The caller's language: the one they chose, English until they have."""
        return self.locale or Locale.EN


class CallFacts(BaseModel):
    """Everything a rule may look at to place a call."""

    model_config = ConfigDict(frozen=True)

    locale: Locale
    screen: Screen
    reason: Reason
    worse: Worse | None
    repeat: bool
    line: str
    at: float | None = None  # when (seconds since the epoch); unknown, no timed route applies

    @classmethod
    def of(cls, answers: Answers, line: str, at: float | None = None) -> CallFacts:
        """The facts from what the caller answered; what they did not answer counts as such."""
        return cls(
            locale=answers.language,
            screen=answers.screen or Screen.UNANSWERED,
            reason=answers.reason or Reason.UNKNOWN,
            worse=answers.worse,
            repeat=answers.repeat,
            line=line,
            at=at,
        )


class Placement(BaseModel):
    """Where a call goes: the rule that placed it, its queue, priority class and skills."""

    model_config = ConfigDict(frozen=True)

    route: str
    queue: QueueName
    priority: Priority
    skills: tuple[Skill, ...] = ()


class Call(BaseModel):
    """A call as it is queued: its CallSid, the caller's number ("" when withheld), the line
    they called, and what they told the IVR."""

    model_config = ConfigDict(frozen=True)

    sid: str
    caller: str
    line: str
    answers: Answers = Answers()


class CallRecord(BaseModel):
    """A call as kept in Redis, from the first webhook to the last status callback."""

    sid: Sid
    case_id: str
    caller: str
    line: str
    locale: Locale
    created: float
    status: CallStatus
    answers: Answers = Answers()
    placement: Placement | None = None
    arrival: float | None = None
    handler: str = ""
    offers: int = 0
    callback_requested: bool = False
    dispatch_tried: float | None = None
    reserved_at: float | None = None  # when the current offer was made

    @property
    def withheld(self) -> bool:
        return not self.caller

    @property
    def call(self) -> Call:
        return Call(sid=self.sid, caller=self.caller, line=self.line, answers=self.answers)


_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


@lru_cache(maxsize=8192)
def case_id_for(call_sid: str) -> str:
    """A short, speakable case id from the CallSid: the same on every retry, no Redis needed.

    Ten Crockford base-32 characters (50 bits) keep collisions negligible at national volume.
    """
    digest = hashlib.sha256(call_sid.encode()).digest()
    code = base64.b32encode(digest).decode().translate(_CROCKFORD)[:10]
    return f"{code[:5]}-{code[5:]}"


WITHHELD = frozenset(
    {"", "anonymous", "restricted", "unknown", "private", "+266696687", "+7378742833"}
)


def caller_number(raw: str) -> str:
    """The caller's number in E.164, or "" when it is withheld."""
    number = raw.strip()
    if number.lower() in WITHHELD or not number.startswith("+") or not number[1:].isdigit():
        return ""
    return number


def mask(number: str) -> str:
    """A phone number as it may appear in logs and on screens: its last three digits."""
    return f"…{number[-3:]}" if len(number) > 3 else "…"
