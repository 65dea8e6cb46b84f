"""The booking part of the handler's call: the free slots of the service the case needs, to book
one while the caller is on the line, and what the clinical system said (console/booking.py does
the booking; console/web/handler_console.py has the forms' actions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from console.booking import BOOKABLE
from console.web.casefile import Case
from console.web.pages import Page
from routing.bookings import Booking, Bookings, BookingStatus
from routing.cases import ServiceType, SlotReference, label
from routing.handlers import Handler

SERVICES = {
    ServiceType.URGENT_CARE: "urgent care",
    ServiceType.MENTAL_HEALTH: "mental health",
    ServiceType.DENTAL: "dental",
}


class ChosenSlot(BaseModel):
    slot: SlotReference


async def booking_context(page: Page, handler: Handler, case: Case | None) -> dict[str, Any]:
    """What the booking part of the handler's call shows."""
    booking: Booking | None = None
    if case is not None and handler.state in BOOKABLE:
        booking = await Bookings(page.floor.redis).get(case.case_id)
    slots = list(booking.slots) if booking else []
    if booking and booking.chosen:
        slots.append(booking.chosen)
    return {
        "can_book": case is not None and handler.state in BOOKABLE,
        "booking": booking,
        "booked": booking is not None and booking.status is BookingStatus.BOOKED,
        "service": SERVICES[booking.service] if booking else "",
        "slot_labels": {slot.slot: label(slot) for slot in slots},
    }
