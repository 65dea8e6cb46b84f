"""An appointment booked for a handler's case while the caller is on the line: free slots searched
in the clinical system, one chosen (held in Redis a few minutes, so that no other handler chooses
it) and booked there at once, the handler told the outcome; the wrap-up then records it.

Only the console does this, within the adapter's short timeout: a webhook never waits on the
clinical system. While the mode is degraded nothing is searched or booked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.context import Console
from console.errors import Conflict
from routing.bookings import SETTLED, Booking, Bookings, BookingStatus, unconfirmed
from routing.cases import (
    DEGRADED,
    SERVICE_TYPES,
    BookedSlot,
    CaseFacts,
    CaseGone,
    CaseKind,
    case_facts,
)
from routing.floor import Floor
from routing.handlers import HandlerState
from workers.clinical import BookedElsewhere, ClinicalRejected, ClinicalUnavailable, SlotTaken

SEARCH_COUNT = 10  # asked for: some may be held for other handlers' cases
OFFERED = 5  # shown
BOOKABLE = (HandlerState.BUSY, HandlerState.WRAP_UP)
IN_FLIGHT = (
    "An appointment is being booked for this case: wait for the clinical system's answer "
    "before searching again."
)
CHANGED = "This case's booking changed meanwhile: see it below."


async def _case_of(floor: Floor, handler_id: str) -> CaseFacts:
    """The case the handler may book for now: theirs, on the call or wrapping it up, while the
    clinical system is up."""
    handler = await floor.handlers.get(handler_id)
    if handler.state not in BOOKABLE or not handler.call:
        raise Conflict(f"{handler_id} has no call to book an appointment for")
    if (await floor.modes.current()).degraded:
        raise Conflict(DEGRADED)
    try:
        return await case_facts(floor.calls, floor.callbacks, handler.call)
    except CaseGone as gone:
        raise Conflict(str(gone)) from None


async def find(console: Console, handler_id: str) -> Booking:
    """Search the clinical system for free slots of the service the case needs: never while a
    slot is chosen for the case (being booked, unconfirmed or booked), and saved only if the
    booking is as it was when the search began."""
    facts = await _case_of(console.floor, handler_id)
    bookings = Bookings(console.floor.redis)
    saved = await bookings.read(facts.case_id)
    earlier, version = saved.booking, saved.version
    if earlier is not None and earlier.status in SETTLED:
        raise Conflict("this case's appointment is booked, or its booking waits to be confirmed")
    if saved.in_flight(console.floor.clock.now()):
        raise Conflict(IN_FLIGHT)
    lost = saved.chosen_slot()
    if earlier is not None and lost is not None:
        # Sent by a console that never heard the answer (it died, or was restarted): perhaps
        # booked, so that slot is tried again, not another searched for.
        given_up = unconfirmed(earlier, lost)
        if not await bookings.settle(given_up, version, lost.slot):
            raise Conflict(CHANGED)
        return given_up
    found = await _search(console, bookings, facts)
    if not await bookings.save_search(found, version):
        raise Conflict(CHANGED)
    return found


async def _search(
    console: Console, bookings: Bookings, facts: CaseFacts, said: str = ""
) -> Booking:
    service = SERVICE_TYPES[facts.need]
    after = datetime.fromtimestamp(console.floor.clock.now(), UTC)
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
    facts = await _case_of(console.floor, handler_id)
    bookings = Bookings(console.floor.redis)
    saved = await bookings.read(facts.case_id)
    booking, version = saved.booking, saved.version
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
    held, version = await bookings.choose(facts.case_id, slot, version, console.floor.clock.now())
    if held == "busy":
        raise Conflict(
            "That appointment is being booked already: wait for the clinical system's answer."
        )
    if held == "other":
        raise Conflict("another appointment of this case waits to be confirmed: book that one")
    if held == "changed":
        raise Conflict(CHANGED)
    if held == "held" and saved.chosen == slot:
        raise Conflict(
            "That appointment may have been booked for this case, and is now chosen for another "
            "caller: Lifeline is asking the clinical system whether it was booked."
        )
    if held == "held":
        said = "That appointment was chosen for another caller a moment ago. Choose another."
        found = await _search(console, bookings, facts, said)
        if not await bookings.save_search(found, version):
            raise Conflict(CHANGED)
        return found
    # Looked up later by the clinical worker unless settled by then: whatever becomes of this
    # console, a booking sent is never left in doubt.
    await console.jobs.off_loop(console.jobs.confirm_booking, facts.case_id, version)
    outcome = await _book(console, bookings, facts, booking, chosen)
    if not await bookings.settle(outcome, version, slot):
        raise Conflict(CHANGED)
    return outcome


async def _book(
    console: Console, bookings: Bookings, facts: CaseFacts, booking: Booking, chosen: BookedSlot
) -> Booking:
    # Booked ahead of the wrap-up, which carries it too.
    case = facts.wrap_up(CaseKind.BOOKING, appointment=chosen)
    try:
        await console.clinical.book(case)
    except SlotTaken:
        said = (
            "That appointment was booked by someone else in the clinical system meanwhile. "
            "Choose another."
        )
        return await _search(console, bookings, facts, said)
    except ClinicalUnavailable:
        return unconfirmed(booking, chosen)
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
