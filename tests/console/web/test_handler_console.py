"""The handler's console: their state, a heartbeat, the call routed to them with its details,
wrap-up (no bookings while degraded), live updates, and offline at sign-out."""

from __future__ import annotations

import redis

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.mode import Mode
from tests.conftest import CALLER, MAIN_LINE
from tests.console.web.conftest import People
from tests.console.web.people import Person, add_user
from tests.console.web.test_supervisor_pages import events
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_callback_calls import booked
from tests.ivr.test_connecting import dial_ends, handler_answers, redirected, sweep
from tests.staff import Staff, set_state
from tests.twilio import Call, TwilioClient


def state_of(sync_redis: redis.Redis, handler_id: str) -> str:
    return str(sync_redis.hget(keys.handler(handler_id), "state"))


def test_a_handler_goes_available_takes_a_break_with_a_reason_and_goes_offline(
    handler_person: Person, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.OFFLINE)
    page = handler_person.get("/console/handler")
    assert '<strong id="state">Offline</strong>' in page.text
    assert "Phone: simulated network" in page.text  # no API key: the console is not a phone
    assert 'id="phone"' not in page.text
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert handler_person.get("/console/handler/phone-token").status_code == 404
    assert 'data-heartbeat="/console/handler/heartbeat|10"' in page.text
    assert sync_redis.zscore(keys.HEARTBEATS, "h1") is not None
    available = handler_person.post("/console/handler/state", {"state": "available"})
    assert "You are available for calls." in available.text
    assert '<strong id="state">Available</strong>' in available.text
    no_reason = handler_person.post("/console/handler/state", {"state": "break"})
    assert no_reason.status_code == 422
    assert "choose a reason for the break" in no_reason.text
    assert state_of(sync_redis, "h1") == "available"
    resting = handler_person.post(
        "/console/handler/state", {"state": "break", "reason": "meal break"}
    )
    assert "You are on a break (meal break)." in resting.text
    assert "(meal break)" in resting.text
    offline = handler_person.post("/console/handler/state", {"state": "offline"})
    assert '<strong id="state">Offline</strong>' in offline.text
    assert handler_person.post("/console/handler/state", {"state": "busy"}).status_code == 422


def wrap_up_a_call(twilio: TwilioClient, redis_url: str, now: float) -> Call:
    """A call queued while h1 is free (so offered to h1), answered, then hung up."""
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    set_state(redis_url, "h1", HandlerState.BUSY, now)  # as when the handler's phone answers
    call.status("completed")
    return call


def test_the_call_routed_to_a_handler_is_on_their_screen_then_wrapped_up(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    sync_redis: redis.Redis,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    assert state_of(sync_redis, "h1") == "reserved"
    page = handler_person.get("/console/handler")
    assert '<dd id="case-priority">3 (standard)</dd>' in page.text
    assert '<dd id="case-reason">A medical problem</dd>' in page.text
    assert '<dd id="case-language">English</dd>' in page.text
    assert '<dd id="case-repeat">No</dd>' in page.text
    assert "…123" in page.text
    assert CALLER not in page.text
    live = events(handler_person, "/console/handler/events?once=1")
    assert set(live) == {"handler-status", "handler-call", "handler-feedback", "mode"}
    assert "A medical problem" in live["handler-call"]

    set_state(redis_url, "h1", HandlerState.BUSY, clock.now())
    call.status("completed")
    wrapping = handler_person.get("/console/handler")
    assert '<strong id="state">Wrapping up</strong>' in wrapping.text
    assert "Appointment booked" in wrapping.text
    refused = handler_person.post("/console/handler/wrap-up", {"outcome": "sorted"})
    assert refused.status_code == 422
    assert 'id="outcome-error"' in refused.text
    done = handler_person.post(
        "/console/handler/wrap-up", {"outcome": "advice_given", "notes": "self-care advice"}
    )
    assert "Wrap-up recorded (advice given). You are available for calls." in done.text
    assert state_of(sync_redis, "h1") == "available"
    record = sync_redis.hgetall(keys.call(call.sid))
    assert (record["wrap_up_outcome"], record["wrap_up_notes"], record["wrap_up_by"]) == (
        "advice_given",
        "self-care advice",
        "h1",
    )
    twice = handler_person.post("/console/handler/wrap-up", {"outcome": "advice_given"})
    assert twice.status_code == 409
    assert "has no call to wrap up" in twice.text


def test_a_repeat_caller_shows_as_such_and_worse(
    handler_person: Person, staff: Staff, twilio: TwilioClient
) -> None:
    earlier = twilio.call(CALLER, MAIN_LINE)
    to_queue(earlier, "2", "1")
    earlier.status("completed")  # gave up waiting; rings again
    staff("h1", state=HandlerState.AVAILABLE)
    again = twilio.call(CALLER, MAIN_LINE)
    to_queue(again, "2", "1")  # not an emergency; then "got worse": yes

    page = handler_person.get("/console/handler").text
    assert '<dd id="case-repeat">Yes: contacted us in the last 24 hours</dd>' in page
    assert '<dd id="case-priority">2 (urgent)</dd>' in page  # worse raised it a class
    assert "No callback history." in page


def test_a_callback_offered_to_a_handler_shows_its_history(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    callback_id = booked(twilio, sync_redis)
    staff("h1", state=HandlerState.AVAILABLE)
    assert len(sweep(redis_url, clock.now()).offers) == 1

    page = handler_person.get("/console/handler").text
    assert "(a callback)" in page
    assert f"<h3>Callback {callback_id}</h3>" in page
    assert "Reserved, priority 3" in page
    assert "— booked</li>" in page


def test_while_degraded_the_case_is_flagged_and_no_booking_is_offered(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    redis_url: str,
    clock: VirtualClock,
    supervisor: Person,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    supervisor.post("/console/mode", {"mode": Mode.DEGRADED.value, "reason": "clinical down"})
    wrap_up_a_call(twilio, redis_url, clock.now())
    page = handler_person.get("/console/handler")
    assert "Mode: degraded" in page.text
    assert "<strong>Contingency:</strong>" in page.text
    assert "Appointment booked" not in page.text.split('id="wrap-up"')[1].split("</fieldset>")[0]
    booked = handler_person.post("/console/handler/wrap-up", {"outcome": "appointment_booked"})
    assert booked.status_code == 409
    assert "bookings are not offered while the clinical system is down" in booked.text


def test_signing_out_takes_a_handler_off_the_floor(
    handler_person: Person, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    assert handler_person.post("/logout").url.path == "/login"
    assert state_of(sync_redis, "h1") == "offline"


def test_an_account_for_a_handler_not_yet_set_up_is_told_so(people: People, redis_url: str) -> None:
    add_user(redis_url, "newbie", Role.HANDLER, handler="h9")
    person = people()
    person.sign_in("newbie")
    page = person.get("/console/handler")
    assert page.status_code == 404
    assert "Ask a supervisor to add them." in page.text


def test_a_handler_on_a_call_who_chooses_to_go_offline_is_told_it_waits_for_the_call(
    handler_person: Person, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.BUSY)
    page = handler_person.get("/console/handler")
    assert 'id="go-offline">Offline after this call</button>' in page.text

    after = handler_person.post("/console/handler/state", {"state": "offline"})

    assert "You will be offline once this call and its wrap-up are over." in after.text
    assert "After this call and its wrap-up: offline." in after.text
    assert state_of(sync_redis, "h1") == "busy"


def test_a_break_chosen_on_a_call_is_where_the_wrap_up_takes_the_handler(
    handler_person: Person, twilio: TwilioClient, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")
    connect = redirected(twilio, first, "h1", 1)
    handler_answers(twilio, first, connect)
    handler_person.post("/console/handler/state", {"state": "break", "reason": "comfort break"})
    dial_ends(twilio, first, connect, "completed")
    second = twilio.call("+447700900002", MAIN_LINE)
    to_queue(second, "2", "1")  # waits: h1 is wrapping up

    done = handler_person.post("/console/handler/wrap-up", {"outcome": "advice_given"})

    assert "Wrap-up recorded (advice given). You are on a break, as you asked." in done.text
    assert (state_of(sync_redis, "h1"), sync_redis.hget(keys.handler("h1"), "reason")) == (
        "break",
        "comfort break",
    )
    assert sync_redis.hget(keys.call(second.sid), "status") == "queued"
