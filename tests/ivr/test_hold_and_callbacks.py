"""The hold loop (position, wait, safety net, callback offer) and callbacks that keep a place."""

from __future__ import annotations

import pytest
import redis

from routing import keys
from routing.clock import VirtualClock
from tests.conftest import CALLER, DISPATCH, MAIN_LINE
from tests.ivr.test_call_flow import queue_of, to_queue
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml


def queued_medical(twilio: TwilioClient, caller: str = CALLER) -> tuple[Call, Twiml]:
    call = twilio.call(caller, MAIN_LINE)
    return call, to_queue(call, "2", "1")


def test_the_hold_loop_gives_position_and_a_wait_that_counts_the_handlers_on_duty(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, staff: Staff
) -> None:
    staff("h1", "h2")
    for n in range(3):
        queued_medical(twilio, f"+4477009000{n:02d}")
        clock.advance(1)
    call, enqueue = queued_medical(twilio)

    turn = call.hold(enqueue)

    assert "You are number 4 in the queue." in turn.said
    # 4 callers x 840 s average handling / 2 handlers = 28 minutes
    assert "The estimated wait is about 28 minutes." in turn.said
    assert turn.verbs[-2:] == ["Pause", "Redirect"]
    assert turn.first("Redirect").text.endswith("turn=1")  # type: ignore[union-attr]


def test_the_safety_message_repeats_at_intervals(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1")
    call, enqueue = queued_medical(twilio)
    safety = "hang up and call 999."

    turns = [call.hold(enqueue)]
    for _ in range(3):
        turns.append(call.hold(turns[-1]))

    assert [any(safety in said for said in turn.said) for turn in turns] == [
        True,
        False,
        False,
        True,
    ]


def test_a_short_wait_offers_no_callback(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff(*(f"h{n}" for n in range(10)))
    call, enqueue = queued_medical(twilio)
    turn = call.hold(enqueue)
    assert "You should be answered in less than a minute." not in turn.said  # 84 s: a minute
    assert not turn.has("Gather")


def test_with_nobody_on_duty_the_caller_is_told_and_offered_a_callback(
    twilio: TwilioClient,
) -> None:
    call, enqueue = queued_medical(twilio)
    turn = call.hold(enqueue)
    assert "All our call handlers are busy. We will answer as soon as we can." in turn.said
    assert turn.first("Gather").get("action", "").split("?")[0].endswith("/ivr/callback-offer")


def take_callback(call: Call, enqueue: Twiml) -> Twiml:
    offer = call.hold(enqueue)
    leave = call.press(offer, "1")
    assert leave.verbs == ["Leave"]
    return call.leave_queue(enqueue)


def test_a_callback_to_the_calling_number_keeps_the_callers_place(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    ahead, _ = queued_medical(twilio, "+447700900001")
    clock.advance(1)
    call, enqueue = queued_medical(twilio)
    clock.advance(1)
    behind, _ = queued_medical(twilio, "+447700900002")
    score = sync_redis.zscore(keys.queue("general"), call.sid)

    confirm = take_callback(call, enqueue)
    assert "the number ending 1 2 3" in confirm.text
    booked = call.press(confirm, "1")

    assert booked.verbs == ["Say", "Hangup"]
    assert "you keep your place in the queue" in booked.text
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    member = keys.callback_member(case_id)
    assert queue_of(sync_redis, "general") == [ahead.sid, member, behind.sid]
    assert sync_redis.zscore(keys.queue("general"), member) == score
    callback = sync_redis.hgetall(keys.callback(case_id))
    assert (callback["number"], callback["status"], callback["priority"]) == (
        CALLER,
        "pending",
        "3",
    )
    assert sync_redis.hget(keys.call(call.sid), "status") == "callback"

    # The caller hangs up after the goodbye: that is not an abandoned call.
    call.status("completed")
    assert sync_redis.hget(keys.CALL_OUTCOMES, "abandoned") is None
    assert sync_redis.hget(keys.CALL_OUTCOMES, "callback") == "1"


def test_a_withheld_caller_keys_in_a_number_which_is_read_back(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, enqueue = queued_medical(twilio, "anonymous")
    enter = take_callback(call, enqueue)
    assert "key in the phone number" in enter.text
    assert enter.first("Gather").get("finishOnKey") == "#"

    readback = call.press(enter, "07700900456")
    assert "You entered 0 7 7 0 0 9 0 0 4 5 6." in readback.text
    booked = call.press(readback, "1")

    assert booked.verbs == ["Say", "Hangup"]
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert sync_redis.hget(keys.callback(case_id), "number") == "+447700900456"


def test_withheld_callers_keying_one_number_get_one_live_callback_to_it(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    """One live callback per number called back: calls with the number withheld cannot pile
    callbacks onto someone's phone."""
    booked = []
    for _ in range(2):
        call, enqueue = queued_medical(twilio, "anonymous")
        readback = call.press(take_callback(call, enqueue), "07700900456")
        assert call.press(readback, "1").verbs == ["Say", "Hangup"]
        booked.append(str(sync_redis.hget(keys.call(call.sid), "callback")))
    assert booked[0] == booked[1]
    assert len(list(sync_redis.zrange(keys.CALLBACKS, 0, -1))) == 1


KEYED = "07700900456"
TAKEN = "Sorry, we cannot call you back on that number."


def book_to(call: Call, asked: Twiml, keyed: str) -> Twiml:
    """At the question for a number: key it in and confirm it when it is read back."""
    readback = call.press(asked, keyed)
    assert "You entered" in readback.text
    return call.press(readback, "1")


def taken_to(call: Call, enqueue: Twiml, keyed: str) -> Twiml:
    """A caller whose number is known takes a callback, chooses a different number, keys it."""
    confirm = take_callback(call, enqueue)
    return book_to(call, call.press(confirm, "2"), keyed)


def test_a_second_caller_keying_a_number_with_a_live_callback_is_asked_for_another(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    first, enqueue = queued_medical(twilio, "+447700900001")
    assert taken_to(first, enqueue, KEYED).verbs == ["Say", "Hangup"]
    call, enqueue = queued_medical(twilio, "+447700900002")
    score = sync_redis.zscore(keys.queue("general"), call.sid)

    again = taken_to(call, enqueue, KEYED)

    assert again.said[0] == TAKEN
    assert "key in the phone number" in again.text
    assert again.first("Gather").get("finishOnKey") == "#"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert sync_redis.zscore(keys.queue("general"), call.sid) == score
    booked = book_to(call, again, "07700900789")  # another number of theirs
    assert booked.verbs == ["Say", "Hangup"]
    assert "you keep your place in the queue" in booked.text
    case_id = str(sync_redis.hget(keys.call(call.sid), "callback"))
    assert sync_redis.hget(keys.callback(case_id), "number") == "+447700900789"
    assert len(list(sync_redis.zrange(keys.CALLBACKS, 0, -1))) == 2
    assert not any(heard.has("Hangup") for heard in call.heard[:-1])


def test_a_caller_refused_number_after_number_goes_back_to_their_place_never_hung_up_on(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    first, enqueue = queued_medical(twilio, "+447700900001")
    taken_to(first, enqueue, KEYED)
    call, enqueue = queued_medical(twilio, "anonymous")
    score = sync_redis.zscore(keys.queue("general"), call.sid)

    twiml = take_callback(call, enqueue)
    for _ in range(2):
        twiml = book_to(call, twiml, KEYED)
        assert twiml.said[0] == TAKEN
        assert "key in the phone number" in twiml.text
    twiml = book_to(call, twiml, KEYED)

    assert twiml.said[:2] == [TAKEN, "You are still in the queue."]
    assert twiml.first("Enqueue").text == "general"
    assert not any(heard.has("Hangup") for heard in call.heard)
    assert sync_redis.zscore(keys.queue("general"), call.sid) == score
    assert sync_redis.hget(keys.call(call.sid), "callback_requested") is None
    assert len(list(sync_redis.zrange(keys.CALLBACKS, 0, -1))) == 1


def test_a_caller_whose_own_number_has_another_callers_callback_is_asked_for_another(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    first, enqueue = queued_medical(twilio, "+447700900001")
    taken_to(first, enqueue, "07700900002")  # the second caller's own phone
    call, enqueue = queued_medical(twilio, "+447700900002")

    confirm = take_callback(call, enqueue)
    assert "the number ending 0 0 2" in confirm.text
    again = call.press(confirm, "1")

    assert again.said[0] == TAKEN
    assert "key in the phone number" in again.text
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert book_to(call, again, "07700900789").verbs == ["Say", "Hangup"]


@pytest.mark.parametrize("keyed", ["999", "09098790000", "08001234567", "07623456789"])
def test_a_number_that_cannot_be_called_back_is_asked_for_again(
    twilio: TwilioClient, sync_redis: redis.Redis, keyed: str
) -> None:
    """A patient's own phone only: never premium rate, a service's, a pager or personal one."""
    call, enqueue = queued_medical(twilio, "anonymous")
    enter = take_callback(call, enqueue)
    again = call.press(enter, keyed)
    assert again.said[0] == "Sorry, that isn't one of the options."
    assert "key in the phone number" in again.text
    assert not list(sync_redis.scan_iter(keys.CALLBACKS + "*"))


def test_a_caller_who_does_not_confirm_goes_back_to_their_place(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, enqueue = queued_medical(twilio)
    score = sync_redis.zscore(keys.queue("general"), call.sid)
    twiml = take_callback(call, enqueue)
    for _ in range(3):
        twiml = call.silence(twiml)

    assert twiml.first("Enqueue").text == "general"
    assert "You are still in the queue." in twiml.said
    assert sync_redis.zscore(keys.queue("general"), call.sid) == score
    assert sync_redis.hget(keys.call(call.sid), "callback_requested") is None


def test_pressing_another_key_at_the_offer_keeps_the_caller_holding(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, enqueue = queued_medical(twilio)
    assert call.press(call.hold(enqueue), "5").verbs == []
    assert queue_of(sync_redis, "general") == [call.sid]


def test_a_caller_who_hangs_up_while_waiting_is_abandoned_once(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, enqueue = queued_medical(twilio)
    call.leave_queue(enqueue, "hangup")
    call.status("completed", 3)
    call.status("completed", 3)
    call.status("in-progress", 1)  # late and out of order

    assert queue_of(sync_redis, "general") == []
    assert sync_redis.hget(keys.call(call.sid), "status") == "abandoned"
    assert sync_redis.hget(keys.CALL_OUTCOMES, "abandoned") == "1"


def test_a_hang_up_during_the_menu_is_not_counted_as_abandoned(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    call.start()
    assert call.status("completed").status_code == 200
    assert sync_redis.hget(keys.CALL_OUTCOMES, "ivr_hangup") == "1"
    assert sync_redis.hget(keys.CALL_OUTCOMES, "abandoned") is None


def test_a_call_being_connected_just_waits_in_the_hold_loop(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call, enqueue = queued_medical(twilio)
    sync_redis.hset(keys.call(call.sid), "status", "reserved")
    turn = call.hold(enqueue)
    assert turn.verbs == ["Pause", "Redirect"]
    assert turn.first("Pause").get("length") == "2"


def test_a_failed_dispatch_line_is_tried_again_then_the_caller_holds_at_the_front(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "1")
    for attempt in (1, 2):
        action = dial.first("Dial").get("action", "")
        dial = twilio.twiml(action, call.params(DialCallStatus="busy"))
        assert dial.first("Number").text is not None
        assert dial.first("Dial").get("action", "").endswith(f"attempt={attempt}")

    action = dial.first("Dial").get("action", "")
    held = twilio.twiml(action, call.params(DialCallStatus="no-answer"))
    assert held.first("Enqueue").text == "emergency"
    assert queue_of(sync_redis, "emergency") == [call.sid]

    clock.advance(30)
    assert call.hold(held).verbs == ["Leave"]


def test_a_completed_dispatch_ends_the_call(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "1")
    action = dial.first("Dial").get("action", "")
    assert twilio.twiml(action, call.params(DialCallStatus="completed")).verbs == []


@pytest.mark.parametrize("result", ["queue-full", "error", "system-shutdown"])
def test_a_caller_turned_away_by_a_full_twilio_queue_holds_outside_it_in_their_place(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, result: str
) -> None:
    """Twilio's queues hold 1,000 calls by default. A caller it refuses keeps their place in
    ours, hears the emergency key again while they wait outside it, and then tries again."""
    first = twilio.call(CALLER, MAIN_LINE)
    first_in = to_queue(first, "2", "1")
    clock.advance(60)
    later = twilio.call("+447700900456", MAIN_LINE)
    enqueue = to_queue(later, "2", "1")
    score = sync_redis.zscore(keys.queue("general"), later.sid)

    outside = later.leave_queue(enqueue, result)
    assert outside.verbs == ["Gather", "Pause", "Redirect"]
    assert outside.said[0] == "You are still in the queue."
    assert "press 1" in outside.said[1]  # the emergency key, live while they wait
    assert queue_of(sync_redis, "general") == [first.sid, later.sid]  # in their place

    clock.advance(20)
    again = twilio.twiml(outside.first("Redirect").text or "", later.params())
    assert again.has("Enqueue")
    assert sync_redis.zscore(keys.queue("general"), later.sid) == score
    assert first_in.has("Enqueue")


def test_a_caller_held_outside_a_full_twilio_queue_who_presses_1_is_an_emergency(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    outside = call.leave_queue(to_queue(call, "2", "1"), "queue-full")
    emergency = call.press(outside, "1")
    assert emergency.first("Number").text == DISPATCH  # nobody on duty: dispatch at once
    assert queue_of(sync_redis, "general") == []
