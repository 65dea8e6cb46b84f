"""Cases' bookings and the slots held for them, in Redis: what the handler console
(console/booking.py) books while the caller is on the line, and what the clinical worker
(`workers.clinical_jobs.confirm_booking`) settles when the console never heard the answer.

A booking's hash holds `state` (the Booking as JSON), `version` (bumped by every change: each
save is conditional on the version it read), `chosen` (the slot chosen and not released: being
booked, unconfirmed or booked), `until` (while a booking is in flight, when it is given up;
0 once settled) and `looked` (the version at which the clinical system was asked for the case's
appointment and had none).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from routing import keys
from routing.cases import BookedSlot, ServiceType
from routing.lua import argument

HOLD_SECONDS = 300  # a chosen slot is held for its case, against other handlers, this long
# A booking in flight (its answer, and the search after a slot taken, each within the adapter's
# short timeout) is given up after this long: a console that died mid-booking does not bar its
# slot from being tried again, which finds a booking made rather than making another.
IN_FLIGHT_SECONDS = 30
# Every booking sent is looked up in the clinical system this long after it was chosen, by the
# clinical worker, unless it was settled by then: an answer lost (or a console gone) never
# leaves a patient's appointment in doubt until a handler happens to click again.
CONFIRM_AFTER_SECONDS = 60

# Whether the case's chosen slot may be booked now (none chosen, or this one, and no booking of
# it in flight), the booking unchanged since it was read, and the slot not held for another
# case: then it is chosen, held for this case and marked in flight, in one step. Answers the
# verdict and the version the booking is now at.
_CHOOSE = """
local a = cjson.decode(ARGV[1])
local version = redis.call('HGET', KEYS[1], 'version') or '0'
local chosen = redis.call('HGET', KEYS[1], 'chosen') or ''
if chosen ~= '' and chosen == a.slot then
  local busy = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
  if busy > tonumber(a.now) then return {'busy', version} end
end
if chosen ~= '' and chosen ~= a.slot then return {'other', version} end
if version ~= a.version then return {'changed', version} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= a.case then return {'held', version} end
redis.call('SET', KEYS[2], a.case, 'EX', a.hold)
version = tostring(redis.call('HINCRBY', KEYS[1], 'version', 1))
redis.call('HSET', KEYS[1], 'chosen', a.slot, 'until', a.in_flight_until)
redis.call('EXPIRE', KEYS[1], a.ttl)
return {'ok', version}
"""
# A booking saved only if unchanged since it was read at `version`: the version it is at now, or
# "" if it was not saved. A search's result (`search`)
# never replaces a slot chosen (being booked, unconfirmed or booked); a booking's outcome
# (`settle`) fixes the chosen slot (or none: its hold released) and ends the booking in flight.
# A slot kept (booked, or perhaps booked) stays held for its case as long as the booking is
# kept, unless another case holds it already: no other handler is offered it while it is in
# doubt, whatever the doubt's length.
_SAVE = """
local a = cjson.decode(ARGV[1])
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= a.version then return '' end
if a.how == 'search' then
  if (redis.call('HGET', KEYS[1], 'chosen') or '') ~= '' then return '' end
else
  redis.call('HSET', KEYS[1], 'chosen', a.chosen, 'until', '0')
  local holder = redis.call('GET', KEYS[2])
  if a.chosen == '' then
    if holder == a.case then redis.call('DEL', KEYS[2]) end
  elseif not holder or holder == a.case then
    redis.call('SET', KEYS[2], a.case, 'EX', a.ttl)
  end
end
redis.call('HSET', KEYS[1], 'state', a.state)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('EXPIRE', KEYS[1], a.ttl)
return tostring(version)
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


UNCONFIRMED = (
    "Booking unavailable: the clinical system did not answer, so this appointment may or may "
    "not be booked. Try booking it again."
)


def unconfirmed(booking: Booking, slot: BookedSlot) -> Booking:
    """`booking` once its booking of `slot` was sent and no answer came: only that slot may be
    tried again, and a booking made already is found there, never made twice."""
    update = {"status": BookingStatus.UNCONFIRMED, "chosen": slot, "message": UNCONFIRMED}
    return booking.model_copy(update=update)


class Saved(NamedTuple):
    """A booking as read, the version of it (what a save is conditional on), the slot chosen
    (`""` if none) and until when its booking is in flight (0 if it is not)."""

    booking: Booking | None
    version: str
    chosen: str = ""
    until: float = 0.0

    def in_flight(self, now: float) -> bool:
        return bool(self.chosen) and self.until > now

    def chosen_slot(self) -> BookedSlot | None:
        """The slot chosen, as it was offered (or as it waits to be confirmed)."""
        if self.booking is None or not self.chosen:
            return None
        if self.booking.chosen is not None and self.booking.chosen.slot == self.chosen:
            return self.booking.chosen
        return next((slot for slot in self.booking.slots if slot.slot == self.chosen), None)


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
        fields = ["state", "version", "chosen", "until"]
        state, version, chosen, until = await self.redis.hmget(keys.booking(case_id), fields)
        booking = Booking.model_validate_json(state) if state else None
        return Saved(
            booking,
            _text(version) if version else "0",
            _text(chosen) if chosen else "",
            float(_text(until)) if until else 0.0,
        )

    async def save_search(self, booking: Booking, version: str) -> str:
        """Save a search's result, unless the booking changed since `version` or has a slot
        chosen; the version it is at now, or `""` if it was not saved."""
        return await self._saved(booking, version, "search")

    async def settle(self, booking: Booking, version: str, slot: str) -> str:
        """Save the outcome of booking `slot` (the slot kept, and held for the case, when booked
        or unconfirmed; else its hold released), unless the booking changed since `version`,
        when the slot was chosen; the version it is at now, or `""` if it was not saved."""
        chosen = slot if booking.status in SETTLED else ""
        return await self._saved(booking, version, "settle", chosen, slot)

    async def _saved(
        self, booking: Booking, version: str, how: str, chosen: str = "", slot: str = ""
    ) -> str:
        hold = keys.slot_hold(slot) if slot else keys.booking(booking.case_id)
        args = argument(
            version=version,
            state=booking.model_dump_json(),
            ttl=keys.CALL_TTL_SECONDS,
            how=how,
            chosen=chosen,
            case=booking.case_id,
        )
        return _text(await self._save(keys=[keys.booking(booking.case_id), hold], args=args))

    async def choose(self, case_id: str, slot: str, version: str, now: float) -> tuple[str, str]:
        """`ok` (chosen, held for the case and in flight), `busy` (being booked already),
        `held` (for another case), `other` (the case has another slot whose booking is not
        settled) or `changed` (since `version`); and the version the booking is at now."""
        keys_ = [keys.booking(case_id), keys.slot_hold(slot)]
        args = argument(
            case=case_id,
            slot=slot,
            hold=HOLD_SECONDS,
            ttl=keys.CALL_TTL_SECONDS,
            version=version,
            now=now,
            in_flight_until=now + IN_FLIGHT_SECONDS,
        )
        verdict, at = await self._choose(keys=keys_, args=args)
        return _text(verdict), _text(at)

    async def looked_before(self, case_id: str, version: str) -> bool:
        """Whether the clinical system was asked already for the case's appointment as the
        booking is at `version`, and had none; it is said to have been asked now."""
        key = keys.booking(case_id)
        earlier = await self.redis.hget(key, "looked")
        if earlier is not None and _text(earlier) == version:
            return True
        await self.redis.hset(key, "looked", version)
        return False

    async def held_for_others(self, case_id: str, slots: list[BookedSlot]) -> set[str]:
        if not slots:
            return set()
        holders = await self.redis.mget([keys.slot_hold(slot.slot) for slot in slots])
        return {
            slot.slot
            for slot, holder in zip(slots, holders, strict=True)
            if holder and holder != case_id
        }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
