"""Callbacks in the supervisor console: listed and filtered, re-prioritised and cancelled with a
reason (audited), and refused clearly when that cannot be done."""

from __future__ import annotations

import asyncio

import redis.asyncio

from console.web.templates import NONE
from prompts.catalogue import Locale
from routing.callbacks import Booking, Callbacks
from routing.calls import Calls
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.models import Answers, Call, Placement, Priority, Reason, Screen, case_id_for
from routing.rules import default_rules
from tests.conftest import NUMBERS
from tests.console.web.people import Person
from tests.ivr.test_clinician_callbacks import handler_api, on_a_call
from tests.routing.test_callbacks import T0, book, book_many, make_unreachable, on_redis
from tests.staff import Staff
from tests.twilio import TwilioClient, new_sid

CALLER = "+447700900123"
LINE = "+441134960000"


def book_callback(redis_url: str, now: float, priority: Priority = Priority.STANDARD) -> str:
    """A queued caller who took a callback, through the real stores."""

    async def book() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            sid = new_sid()
            calls = Calls(client, numbers=NUMBERS)
            await calls.open(sid, CALLER, LINE, Locale.EN, now)
            answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
            placement = Placement(route="medical", queue="general", priority=priority)
            call = Call(sid=sid, caller=CALLER, line=LINE, answers=answers)
            await calls.enqueue(call, placement, now)
            booking = await Callbacks(client, numbers=NUMBERS).convert(
                sid, case_id_for(sid), CALLER, CALLER, placement, default_rules().callbacks, now
            )
            assert isinstance(booking, Booking)
            assert not booking.kept
            return booking.callback
        finally:
            await client.aclose()

    return asyncio.run(book())


def test_callbacks_are_listed_with_numbers_masked_and_filtered(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = book_callback(redis_url, clock.now())
    page = supervisor.get("/console/callbacks")
    assert f'<a href="/console/callbacks/{callback_id}">{callback_id}</a>' in page.text
    assert "…123" in page.text
    assert CALLER not in page.text
    assert callback_id not in supervisor.get("/console/callbacks?status=cancelled").text
    assert callback_id in supervisor.get("/console/callbacks?status=pending&priority=3").text
    assert callback_id not in supervisor.get("/console/callbacks?overdue=on").text
    clock.advance(3601)  # past the standard target of an hour
    overdue = supervisor.get("/console/callbacks?overdue=on")
    assert callback_id in overdue.text
    assert "overdue" in overdue.text
    assert supervisor.get("/console/callbacks?status=lost").status_code == 422


def test_a_callback_is_reprioritised_then_cancelled_with_reasons_in_the_audit_log(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = book_callback(redis_url, clock.now())
    raised = supervisor.post(
        f"/console/callbacks/{callback_id}/priority", {"priority": "2", "reason": "frail"}
    )
    assert f"Callback {callback_id} is now priority 2." in raised.text
    assert '<dd id="callback-priority">2' in raised.text
    cancelled = supervisor.post(
        f"/console/callbacks/{callback_id}/cancel", {"reason": "caller rang 999"}
    )
    assert f"Callback {callback_id} is cancelled." in cancelled.text
    assert '<dd id="callback-status">cancelled' in cancelled.text
    audit = supervisor.get("/console/audit").text
    assert "<code>callback.priority</code>" in audit
    assert "reason: frail" in audit
    assert "<code>callback.cancel</code>" in audit
    assert "reason: caller rang 999" in audit


def test_bad_changes_are_refused_on_the_page(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = book_callback(redis_url, clock.now())
    to_one = supervisor.post(f"/console/callbacks/{callback_id}/priority", {"priority": "1"})
    assert to_one.status_code == 422
    assert 'id="priority-error"' in to_one.text
    assert 'id="priority-reason-error"' in to_one.text
    no_reason = supervisor.post(f"/console/callbacks/{callback_id}/cancel", {"reason": "  "})
    assert no_reason.status_code == 422
    assert 'id="cancel-reason-error"' in no_reason.text
    supervisor.post(f"/console/callbacks/{callback_id}/cancel", {"reason": "done"})
    twice = supervisor.post(f"/console/callbacks/{callback_id}/cancel", {"reason": "again"})
    assert twice.status_code == 409
    assert "cannot be cancelled: it is cancelled already" in twice.text
    assert supervisor.get("/console/callbacks/nope").status_code == 404


def unreachable_then_more_booked(redis_url: str, clock: VirtualClock, more: int = 0) -> str:
    """A callback whose every attempt failed, and then `more` booked by other callers."""

    async def prepare(client: redis.asyncio.Redis) -> str:
        callback_id = await book(client, 1, T0, caller=CALLER)
        now = await make_unreachable(client, callback_id, T0)
        await book_many(client, more, now)
        clock.set(now + more)
        return callback_id

    return on_redis(redis_url, prepare)


def test_the_unreachable_filter_shows_every_unreachable_callback_however_old(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable_then_more_booked(redis_url, clock, more=500)
    link = f'<a href="/console/callbacks/{callback_id}">'

    everything = supervisor.get("/console/callbacks").text
    assert link not in everything
    assert "500 callbacks (of the 500 most recent)." in everything
    unreachable = supervisor.get("/console/callbacks?status=unreachable").text
    assert link in unreachable
    assert "1 callback (every unreachable one, however old)." in unreachable
    assert link in supervisor.get("/console/callbacks?status=unreachable&priority=3").text
    assert link not in supervisor.get("/console/callbacks?status=unreachable&priority=2").text


def test_reprioritising_an_unreachable_callback_on_the_page_puts_it_back_in_the_queue(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable_then_more_booked(redis_url, clock)
    page = supervisor.get(f"/console/callbacks/{callback_id}").text
    assert "back in the queue with a fresh set of attempts" in page

    back = supervisor.post(
        f"/console/callbacks/{callback_id}/priority", {"priority": "3", "reason": "try again"}
    )

    assert f"Callback {callback_id} is back in the queue, priority 3." in back.text
    assert '<dd id="callback-status">reserved' in back.text  # offered at once to the free handler
    assert "back in queue;" in back.text
    assert "attempts before: 3" in back.text
    assert callback_id not in supervisor.get("/console/callbacks?status=unreachable").text


def test_an_unreachable_callback_is_not_put_back_over_the_callers_newer_one_on_the_page(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    callback_id = unreachable_then_more_booked(redis_url, clock)
    newer = book_callback(redis_url, clock.now())  # the same caller rang again and booked

    refused = supervisor.post(
        f"/console/callbacks/{callback_id}/priority", {"priority": "3", "reason": "try again"}
    )

    assert refused.status_code == 409
    assert f"The caller has a newer callback, {newer}, still to be made" in refused.text


def row_of(page: str, callback_id: str) -> str:
    [row] = [row for row in page.split("<tr>") if f'href="/console/callbacks/{callback_id}"' in row]
    return row


def test_a_clinicians_callback_shows_its_urgency_and_the_time_left_to_its_due_by_or_how_late(
    supervisor: Person,
    twilio: TwilioClient,
    staff: Staff,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    ordinary = book_callback(redis_url, clock.now())
    staff("h1", state=HandlerState.AVAILABLE)
    on_a_call(twilio, "h1", "+447700900001")
    notes = "Rash <b>spreading</b>; on warfarin."
    made = handler_api(twilio, redis_url, "h1").send(
        "POST",
        "/api/v1/handlers/h1/clinician-callback",
        {"urgency": "immediate", "notes": notes},
        201,
    )
    callback_id = made["callback"]
    clock.advance(5 * 60)

    listed = supervisor.get("/console/callbacks").text

    clinicians = row_of(listed, callback_id)
    assert "<td>Immediate (within 20 minutes)</td>" in clinicians
    assert '<span class="time-left">(15 min 00 s left)</span>' in clinicians
    assert f"<td>{NONE}</td>" in row_of(listed, ordinary)  # an ordinary one has no urgency
    assert "left)" not in row_of(listed, ordinary)
    detail = supervisor.get(f"/console/callbacks/{callback_id}").text
    assert (
        '<dd id="callback-urgency">Immediate (within 20 minutes): a clinician&rsquo;s callback, '
        "asked for by h1</dd>"
    ) in detail
    assert "Rash &lt;b&gt;spreading&lt;/b&gt;; on warfarin." in detail

    clock.advance(20 * 60)  # 25 minutes since it was asked for: 5 late
    late = row_of(supervisor.get("/console/callbacks").text, callback_id)
    assert '<span class="miss">(5 min 00 s late)</span>' in late
    assert (
        '<span class="miss">(5 min 00 s late)</span>'
        in supervisor.get(f"/console/callbacks/{callback_id}").text
    )
