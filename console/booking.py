"""An appointment booked for a handler's case while the caller is on the line: free slots searched
in the clinical system, one chosen (held in Redis a few minutes, so that no other handler chooses
it) and booked there at once, the handler told the outcome; the wrap-up then records it.

Only the console does this, within the adapter's short timeout: a webhook never waits on the
clinical system. While the mode is degraded nothing is searched or booked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from console.case import CaseFacts, case_facts
from console.context import Console
from console.errors import Conflict
from routing import keys
from routing.handlers import HandlerState
from workers.clinical import BookedElsewhere, ClinicalRejected, ClinicalUnavailable, SlotTaken
from workers.fhir import SERVICE_TYPES, BookedSlot, CaseKind, ClinicalCase, Request, ServiceType

SEARCH_COUNT = 10  # asked for: some may be held for other handlers' cases
OFFERED = 5  # shown
HOLD_SECONDS = 300  # a chosen slot is held for its case, against other handlers, this long
# A booking in flight (its answer, and the search after a slot taken, each within the adapter's
# short timeout) is given up after this long: a console that died mid-booking does not bar its
# slot from being tried again, which finds a booking made rather than making another.
IN_FLIGHT_SECONDS = 30
DEGRADED = "bookings are not offered while the clinical system is down"
BOOKABLE = (HandlerState.BUSY, HandlerState.WRAP_UP)
IN_FLIGHT = (
    "An appointment is being booked for this case: wait for the clinical system's answer "
    "before searching again."
)
CHANGED = "This case's booking changed meanwhile: see it below."

# A booking's hash holds `state` (the Booking as JSON), `version` (bumped by every change: each
# save is conditional on the version it read), `chosen` (the slot chosen and not released: being
# booked, unconfirmed or booked) and `until` (while a booking is in flight, when it is given up).

# Whether the case's chosen slot may be booked now (none chosen, or this one, and no booking of
# it in flight), the booking unchanged since it was read, and the slot not held for another
# case: then it is chosen, held for this case and marked in flight, in one step. Answers the
# verdict and the version the booking is now at.
_CHOOSE = """
local version = redis.call('HGET', KEYS[1], 'version') or '0'
local chosen = redis.call('HGET', KEYS[1], 'chosen') or ''
if chosen ~= '' and chosen == ARGV[2] then
  local busy = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
  if busy > tonumber(ARGV[6]) then return {'busy', version} end
end
if chosen ~= '' and chosen ~= ARGV[2] then return {'other', version} end
if version ~= ARGV[5] then return {'changed', version} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'held', version} end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
version = tostring(redis.call('HINCRBY', KEYS[1], 'version', 1))
redis.call('HSET', KEYS[1], 'chosen', ARGV[2], 'until', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'ok', version}
"""
# A booking saved only if unchanged since it was read at ARGV[1]. A search's result (`search`)
# never replaces a slot chosen (being booked, unconfirmed or booked); a booking's outcome
# (`settle`) fixes the chosen slot (or none: its hold released) and ends the booking in flight.
_SAVE = """
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[1] then return 0 end
if ARGV[4] == 'search' then
  if (redis.call('HGET', KEYS[1], 'chosen') or '') ~= '' then return 0 end
else
  redis.call('HSET', KEYS[1], 'chosen', ARGV[5], 'until', '0')
  if ARGV[5] == '' and redis.call('GET', KEYS[2]) == ARGV[6] then redis.call('DEL', KEYS[2]) end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class BookingStatus(StrEnum):
    OFFERED = "offered"  # free slots found (perhaps none), to choose from
    UNAVAILABLE = "unavailable"  # the clinical system did not answer, or refused: no slots shown
    UNCONFIRMED = "unconfirmed"  # a booking was sent and no answer came: the same slot, again
    BOOKED = "booked"


# A booking's outcomes that keep its slot chosen: booked, or perhaps booked.
SETTLED = frozenset({BookingStatus.BOOKED, BookingStatus.UNCONFIRMED})


class Booking(BaseModel):
    """A case's booking as its handler sees it."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    service: ServiceType
    status: BookingStatus
    slots: list[BookedSlot] = []  # offered
    chosen: BookedSlot | None = None  # being booked (unconfirmed), or booked
    message: str = ""  # what happened last, in words for the handler


class Saved(NamedTuple):
    """A booking as read, and the version of it: what a save is conditional on."""

    booking: Booking | None
    version: str


class Bookings:
    """Cases' bookings and the slots held for them, in Redis: every change conditional on what
    it was decided from."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._choose = redis.register_script(_CHOOSE)
        self._save = redis.register_script(_SAVE)

    async def get(self, case_id: str) -> Booking | None:
        return (await self.read(case_id)).booking

    async def read(self, case_id: str) -> Saved:
        state, version = await self.redis.hmget(keys.booking(case_id), ["state", "version"])
        booking = Booking.model_validate_json(state) if state else None
        return Saved(booking, _text(version) if version else "0")

    async def save_search(self, booking: Booking, version: str) -> bool:
        """Save a search's result, unless the booking changed since `version` or has a slot
        chosen; whether it was saved."""
        return await self._saved(booking, version, "search")

    async def settle(self, booking: Booking, version: str, slot: str) -> bool:
        """Save the outcome of booking `slot` (the slot kept when booked or unconfirmed, else its
        hold released), unless the booking changed since `version`, when the slot was chosen;
        whether it was saved."""
        chosen = slot if booking.status in SETTLED else ""
        return await self._saved(booking, version, "settle", chosen, slot)

    async def _saved(
        self, booking: Booking, version: str, how: str, chosen: str = "", slot: str = ""
    ) -> bool:
        hold = keys.slot_hold(slot) if slot else keys.booking(booking.case_id)
        args: list[str | int] = [
            version,
            booking.model_dump_json(),
            keys.CALL_TTL_SECONDS,
            how,
            chosen,
            booking.case_id,
        ]
        return bool(await self._save(keys=[keys.booking(booking.case_id), hold], args=args))

    async def choose(self, case_id: str, slot: str, version: str, now: float) -> tuple[str, str]:
        """`ok` (chosen, held for the case and in flight), `busy` (being booked already),
        `held` (for another case), `other` (the case has another slot whose booking is not
        settled) or `changed` (since `version`); and the version the booking is at now."""
        keys_ = [keys.booking(case_id), keys.slot_hold(slot)]
        args: list[str | int] = [
            case_id,
            slot,
            HOLD_SECONDS,
            keys.CALL_TTL_SECONDS,
            version,
            repr(now),
            repr(now + IN_FLIGHT_SECONDS),
        ]
        verdict, at = await self._choose(keys=keys_, args=args)
        return _text(verdict), _text(at)

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
    """Search the clinical system for free slots of the service the case needs: never while a
    slot is chosen for the case (being booked, unconfirmed or booked), and saved only if the
    booking is as it was when the search began."""
    facts = await _case_of(console, handler_id)
    bookings = Bookings(console.redis)
    earlier, version = await bookings.read(facts.case_id)
    if earlier is not None and earlier.status in SETTLED:
        raise Conflict("this case's appointment is booked, or its booking waits to be confirmed")
    if await console.redis.hget(keys.booking(facts.case_id), "chosen"):
        raise Conflict(IN_FLIGHT)
    found = await _search(console, bookings, facts)
    if not await bookings.save_search(found, version):
        raise Conflict(CHANGED)
    return found


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
    """Book `slot`, one of those offered (or the one whose booking is unconfirmed), now: once,
    however often the handler clicks, and the outcome saved only over the booking it began from."""
    facts = await _case_of(console, handler_id)
    bookings = Bookings(console.redis)
    booking, version = await bookings.read(facts.case_id)
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
    held, version = await bookings.choose(facts.case_id, slot, version, console.clock.now())
    if held == "busy":
        raise Conflict(
            "That appointment is being booked already: wait for the clinical system's answer."
        )
    if held == "other":
        raise Conflict("another appointment of this case waits to be confirmed: book that one")
    if held == "changed":
        raise Conflict(CHANGED)
    if held == "held":
        said = "That appointment was chosen for another caller a moment ago. Choose another."
        found = await _search(console, bookings, facts, said)
        if not await bookings.save_search(found, version):
            raise Conflict(CHANGED)
        return found
    outcome = await _book(console, bookings, facts, booking, chosen)
    if not await bookings.settle(outcome, version, slot):
        raise Conflict(CHANGED)
    return outcome


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
    except BookedElsewhere:
        return booking.model_copy(
            update={
                "status": BookingStatus.UNAVAILABLE,
                "slots": [],
                "chosen": None,
                "message": (
                    "Not booked: the clinical system holds an appointment for this case made "
                    "before, at another time. Check it there before booking again."
                ),
            }
        )
    except ClinicalRejected as error:
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


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
