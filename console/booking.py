"""An appointment booked for a handler's case while the caller is on the line: free slots searched
in the clinical system, one chosen (held in Redis a few minutes, so that no other handler chooses
it) and booked there at once, the handler told the outcome; the wrap-up then records it.

Only the console does this, within the adapter's short timeout: a webhook never waits on the
clinical system. While the mode is degraded nothing is searched or booked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from console.case import CaseFacts, case_facts
from console.context import Console
from console.errors import Conflict
from routing import keys
from routing.handlers import HandlerState
from workers.clinical import ClinicalRejected, ClinicalUnavailable, SlotTaken
from workers.fhir import SERVICE_TYPES, BookedSlot, CaseKind, ClinicalCase, Request, ServiceType

SEARCH_COUNT = 10  # asked for: some may be held for other handlers' cases
OFFERED = 5  # shown
HOLD_SECONDS = 300  # a chosen slot is held for its case, against other handlers, this long
DEGRADED = "bookings are not offered while the clinical system is down"
BOOKABLE = (HandlerState.BUSY, HandlerState.WRAP_UP)

# Whether the case's chosen slot may be taken (none chosen, or this one) and the slot is not held
# for another case: then it is chosen and held for this one, in one step.
_CHOOSE = """
local chosen = redis.call('HGET', KEYS[1], 'chosen')
if chosen and chosen ~= '' and chosen ~= ARGV[2] then return 'other' end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return 'held' end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
redis.call('HSET', KEYS[1], 'chosen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'ok'
"""
# The clinical system said the slot was not booked for this case: it is free to choose again.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'chosen') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'chosen', '')
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class BookingStatus(StrEnum):
    OFFERED = "offered"  # free slots found (perhaps none), to choose from
    UNAVAILABLE = "unavailable"  # the clinical system did not answer, or refused: no slots shown
    UNCONFIRMED = "unconfirmed"  # a booking was sent and no answer came: the same slot, again
    BOOKED = "booked"


class Booking(BaseModel):
    """A case's booking as its handler sees it."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    service: ServiceType
    status: BookingStatus
    slots: list[BookedSlot] = []  # offered
    chosen: BookedSlot | None = None  # being booked (unconfirmed), or booked
    message: str = ""  # what happened last, in words for the handler


class Bookings:
    """Cases' bookings and the slots held for them, in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._choose = redis.register_script(_CHOOSE)
        self._release = redis.register_script(_RELEASE)

    async def get(self, case_id: str) -> Booking | None:
        state = await self.redis.hget(keys.booking(case_id), "state")
        return Booking.model_validate_json(state) if state else None

    async def save(self, booking: Booking) -> Booking:
        key = keys.booking(booking.case_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "state", booking.model_dump_json())
            pipe.expire(key, keys.CALL_TTL_SECONDS)
            await pipe.execute()
        return booking

    async def choose(self, case_id: str, slot: str) -> str:
        """`ok` (chosen and held for the case), `held` (for another case), or `other` (the case
        has another slot whose booking is not settled)."""
        keys_ = [keys.booking(case_id), keys.slot_hold(slot)]
        args: list[str | int] = [case_id, slot, HOLD_SECONDS, keys.CALL_TTL_SECONDS]
        return str(await self._choose(keys=keys_, args=args))

    async def release(self, case_id: str, slot: str) -> None:
        await self._release(
            keys=[keys.booking(case_id), keys.slot_hold(slot)], args=[case_id, slot]
        )

    async def held_for_others(self, case_id: str, slots: list[BookedSlot]) -> set[str]:
        if not slots:
            return set()
        holders = await self.redis.mget([keys.slot_hold(slot.slot) for slot in slots])
        return {
            slot.slot
            for slot, holder in zip(slots, holders, strict=True)
            if holder and holder != case_id
        }


async def _case_of(console: Console, handler_id: str) -> CaseFacts:
    """The case the handler may book for now: theirs, on the call or wrapping it up, while the
    clinical system is up."""
    handler = await console.handlers.get(handler_id)
    if handler.state not in BOOKABLE or not handler.call:
        raise Conflict(f"{handler_id} has no call to book an appointment for")
    if (await console.modes.current()).degraded:
        raise Conflict(DEGRADED)
    return await case_facts(console, handler.call)


async def booked_slot(console: Console, case_id: str) -> BookedSlot | None:
    """The slot booked for the case in the clinical system, if one was."""
    booking = await Bookings(console.redis).get(case_id)
    return booking.chosen if booking and booking.status is BookingStatus.BOOKED else None


async def find(console: Console, handler_id: str) -> Booking:
    """Search the clinical system for free slots of the service the case needs."""
    facts = await _case_of(console, handler_id)
    bookings = Bookings(console.redis)
    earlier = await bookings.get(facts.case_id)
    if earlier is not None and earlier.status in (BookingStatus.BOOKED, BookingStatus.UNCONFIRMED):
        raise Conflict("this case's appointment is booked, or its booking waits to be confirmed")
    return await bookings.save(await _search(console, bookings, facts))


async def _search(
    console: Console, bookings: Bookings, facts: CaseFacts, said: str = ""
) -> Booking:
    service = SERVICE_TYPES[facts.need]
    after = datetime.fromtimestamp(console.clock.now(), UTC)
    try:
        found = await console.clinical.free_slots(facts.need, after, SEARCH_COUNT, facts.case_id)
    except ClinicalUnavailable:
        message = "Booking unavailable: the clinical system did not answer. Try again in a moment."
        return Booking(
            case_id=facts.case_id,
            service=service,
            status=BookingStatus.UNAVAILABLE,
            message=f"{said} {message}".strip(),
        )
    except ClinicalRejected as error:
        message = f"Booking unavailable: the clinical system refused the search ({error.status})."
        return Booking(
            case_id=facts.case_id,
            service=service,
            status=BookingStatus.UNAVAILABLE,
            message=f"{said} {message}".strip(),
        )
    others = await bookings.held_for_others(facts.case_id, found)
    slots = [slot for slot in found if slot.slot not in others][:OFFERED]
    if not slots:
        said = f"{said} No free appointments of this kind in the clinical system just now.".strip()
    return Booking(
        case_id=facts.case_id,
        service=service,
        status=BookingStatus.OFFERED,
        slots=slots,
        message=said,
    )


async def choose(console: Console, handler_id: str, slot: str) -> Booking:
    """Book `slot`, one of those offered (or the one whose booking is unconfirmed), now."""
    facts = await _case_of(console, handler_id)
    bookings = Bookings(console.redis)
    booking = await bookings.get(facts.case_id)
    if booking is None:
        raise Conflict("search for free appointments first")
    if booking.status is BookingStatus.BOOKED:
        raise Conflict("this case's appointment is booked already")
    offered = {item.slot: item for item in booking.slots}
    if booking.status is BookingStatus.UNCONFIRMED and booking.chosen is not None:
        offered = {booking.chosen.slot: booking.chosen}
    chosen = offered.get(slot)
    if chosen is None:
        raise Conflict("that appointment is not among those offered: search again")
    held = await bookings.choose(facts.case_id, slot)
    if held == "other":
        raise Conflict("another appointment of this case waits to be confirmed: book that one")
    if held == "held":
        said = "That appointment was chosen for another caller a moment ago. Choose another."
        return await bookings.save(await _search(console, bookings, facts, said))
    return await bookings.save(await _book(console, bookings, facts, booking, chosen))


async def _book(
    console: Console, bookings: Bookings, facts: CaseFacts, booking: Booking, chosen: BookedSlot
) -> Booking:
    case = ClinicalCase(
        case_id=facts.case_id,
        kind=CaseKind.BOOKING,
        created=datetime.fromtimestamp(facts.created, UTC),
        caller_number=facts.caller,
        locale=facts.locale,
        reason=facts.reason,
        priority=facts.priority,
        request=Request.WRAP_UP,  # booked ahead of the wrap-up, which carries it too
        appointment=chosen,
    )
    try:
        await console.clinical.book(case)
    except SlotTaken:
        await bookings.release(facts.case_id, chosen.slot)
        said = (
            "That appointment was booked by someone else in the clinical system meanwhile. "
            "Choose another."
        )
        return await _search(console, bookings, facts, said)
    except ClinicalUnavailable:
        # It may have been booked: only that slot may be tried again, and a booking made
        # already is found there, never made twice.
        return booking.model_copy(
            update={
                "status": BookingStatus.UNCONFIRMED,
                "chosen": chosen,
                "message": (
                    "Booking unavailable: the clinical system did not answer, so this "
                    "appointment may or may not be booked. Try booking it again."
                ),
            }
        )
    except ClinicalRejected as error:
        await bookings.release(facts.case_id, chosen.slot)
        return booking.model_copy(
            update={
                "status": BookingStatus.UNAVAILABLE,
                "slots": [],
                "chosen": None,
                "message": f"The clinical system refused the booking ({error.status}).",
            }
        )
    return booking.model_copy(
        update={"status": BookingStatus.BOOKED, "chosen": chosen, "message": ""}
    )
