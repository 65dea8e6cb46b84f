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
) -> int:
    """On the call's record (or the callback's): who closed it, how, when, with what notes.
    Returns which wrap-up of the call this is: a handler may correct one before moving on, and
    each goes to the clinical system as a request of its own."""
    key = (
        keys.callback(member.removeprefix("cb:")) if member.startswith("cb:") else keys.call(member)
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "wrap_ups", 1)
        pipe.hset(
            key,
            mapping={
                "wrap_up_outcome": outcome.value,
                "wrap_up_notes": notes,
                "wrap_up_by": handler_id,
                "wrap_up_at": repr(now),
            },
        )
        number, _ = await pipe.execute()
    return int(number)
