"""The store of cases' bookings on a real Redis: every save conditional on the version it was
decided from, a search's result never over a slot chosen, one booking of a slot in flight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis.asyncio

from routing import keys
from routing.bookings import HOLD_SECONDS, Booking, Bookings, BookingStatus, unconfirmed
from routing.cases import BookedSlot, ServiceType

pytestmark = pytest.mark.anyio

CASE = "7K2QX-M9D4A"
AT_0930 = BookedSlot(
    slot="Slot/dental-0930",
    start=datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
    end=datetime(2026, 1, 1, 9, 45, tzinfo=UTC),
)
OFFERED = Booking(
    case_id=CASE, service=ServiceType.DENTAL, status=BookingStatus.OFFERED, slots=[AT_0930]
)
BOOKED = OFFERED.model_copy(update={"status": BookingStatus.BOOKED, "chosen": AT_0930})
NOW = 1_767_225_600.0


async def test_a_search_read_before_a_booking_was_settled_is_not_saved_over_it(
    aredis: redis.asyncio.Redis,
) -> None:
    bookings = Bookings(aredis)
    assert await bookings.save_search(OFFERED, "0")
    searching = (await bookings.read(CASE)).version  # a search begins
    verdict, at = await bookings.choose(CASE, AT_0930.slot, searching, NOW)  # Book, meanwhile
    assert verdict == "ok"
    assert await bookings.settle(BOOKED, at, AT_0930.slot)

    found_late = OFFERED.model_copy(update={"slots": []})
    assert not await bookings.save_search(found_late, searching)
    assert not await bookings.save_search(found_late, (await bookings.read(CASE)).version)

    assert await bookings.get(CASE) == BOOKED
    assert await aredis.hget(keys.booking(CASE), "chosen") == AT_0930.slot


async def test_a_slot_being_booked_cannot_be_chosen_again_until_its_booking_is_settled(
    aredis: redis.asyncio.Redis,
) -> None:
    bookings = Bookings(aredis)
    await bookings.save_search(OFFERED, "0")
    read = (await bookings.read(CASE)).version

    first, at = await bookings.choose(CASE, AT_0930.slot, read, NOW)
    second, _ = await bookings.choose(CASE, AT_0930.slot, read, NOW + 1)
    third, _ = await bookings.choose(CASE, AT_0930.slot, at, NOW + 1)

    assert (first, second, third) == ("ok", "busy", "busy")
    unsure = BOOKED.model_copy(update={"status": BookingStatus.UNCONFIRMED})
    assert await bookings.settle(unsure, at, AT_0930.slot)
    again, _ = await bookings.choose(CASE, AT_0930.slot, (await bookings.read(CASE)).version, NOW)
    assert again == "ok"  # an unconfirmed booking may be tried again, once at a time


async def test_a_slot_perhaps_booked_stays_held_for_its_case_until_it_is_settled(
    aredis: redis.asyncio.Redis,
) -> None:
    bookings = Bookings(aredis)
    await bookings.save_search(OFFERED, "0")
    _, at = await bookings.choose(CASE, AT_0930.slot, (await bookings.read(CASE)).version, NOW)
    held_while_in_flight = await aredis.ttl(keys.slot_hold(AT_0930.slot))

    at = await bookings.settle(unconfirmed(OFFERED, AT_0930), at, AT_0930.slot)

    assert 0 < held_while_in_flight <= HOLD_SECONDS
    assert await aredis.get(keys.slot_hold(AT_0930.slot)) == CASE
    assert await aredis.ttl(keys.slot_hold(AT_0930.slot)) > HOLD_SECONDS  # as long as the doubt
    released = OFFERED.model_copy(update={"status": BookingStatus.UNAVAILABLE, "slots": []})
    assert await bookings.settle(released, at, AT_0930.slot)
    assert await aredis.get(keys.slot_hold(AT_0930.slot)) is None


async def test_a_slot_held_for_another_case_is_not_taken_by_an_outcome_saved_late(
    aredis: redis.asyncio.Redis,
) -> None:
    bookings = Bookings(aredis)
    await bookings.save_search(OFFERED, "0")
    _, at = await bookings.choose(CASE, AT_0930.slot, (await bookings.read(CASE)).version, NOW)
    await aredis.set(keys.slot_hold(AT_0930.slot), "OTHER-CASE")  # ours lapsed; theirs now

    assert await bookings.settle(unconfirmed(OFFERED, AT_0930), at, AT_0930.slot)

    assert await aredis.get(keys.slot_hold(AT_0930.slot)) == "OTHER-CASE"
