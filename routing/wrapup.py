"""What a handler records when a call is over: its outcome and notes, kept on the case."""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from routing import keys


class WrapUpOutcome(StrEnum):
    AMBULANCE = "ambulance_requested"
    REFERRED = "referred"
    BOOKED = "appointment_booked"
    ADVICE = "advice_given"
    CALLBACK = "callback_arranged"


# Which outcomes the clinical system must hear about, and as what kind of case.
CLINICAL_KIND = {
    WrapUpOutcome.AMBULANCE: "ambulance",
    WrapUpOutcome.REFERRED: "referral",
    WrapUpOutcome.BOOKED: "booking",
}


async def record(
    redis: Redis, member: str, handler_id: str, outcome: WrapUpOutcome, notes: str, now: float
) -> None:
    """On the call's record (or the callback's): who closed it, how, when, with what notes."""
    key = (
        keys.callback(member.removeprefix("cb:")) if member.startswith("cb:") else keys.call(member)
    )
    await redis.hset(
        key,
        mapping={
            "wrap_up_outcome": outcome.value,
            "wrap_up_notes": notes,
            "wrap_up_by": handler_id,
            "wrap_up_at": repr(now),
        },
    )
