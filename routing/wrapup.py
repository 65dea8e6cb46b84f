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


# Which wrap-up of the call this is: the last one's number again if it is the same (a request
# sent twice, its answer lost), else the next (a record from before wrap-ups were counted has
# had one).
_RECORD = """
local last = redis.call('HMGET', KEYS[1], 'wrap_up_outcome', 'wrap_up_notes')
local outcome, notes = last[1], last[2]
local count = tonumber(redis.call('HGET', KEYS[1], 'wrap_ups') or (outcome and '1' or '0'))
if count > 0 and outcome == ARGV[1] and notes == ARGV[2] then return count end
count = count + 1
redis.call('HSET', KEYS[1], 'wrap_ups', count, 'wrap_up_outcome', ARGV[1],
           'wrap_up_notes', ARGV[2], 'wrap_up_by', ARGV[3], 'wrap_up_at', ARGV[4])
return count
"""


async def record(
    redis: Redis, member: str, handler_id: str, outcome: WrapUpOutcome, notes: str, now: float
) -> int:
    """On the call's record (or the callback's): who closed it, how, when, with what notes.
    Returns which wrap-up of the call this is: a handler may correct one before moving on, and
    each goes to the clinical system as a request of its own; the same one sent twice is one."""
    key = keys.record(member)
    script = redis.register_script(_RECORD)
    return int(await script(keys=[key], args=[outcome.value, notes, handler_id, repr(now)]))
