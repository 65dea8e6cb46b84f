"""What a caller hears while Redis is unreachable: what is happening, the emergency key on every
turn, the fallback line after FALLBACK_LINE_AFTER_MINUTES (if set), and never a hang-up."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from lifeline.app import create_app
from lifeline.redis_server import RedisServer
from routing import keys
from routing.clock import VirtualClock
from tests.conftest import (
    AUTH_TOKEN,
    CALLER,
    DISPATCH,
    MAIN_LINE,
    PUBLIC_BASE_URL,
    WELSH_LINE,
    make_settings,
)
from tests.ivr.test_call_flow import EMERGENCY_WORDS, to_queue
from tests.twilio import Call, TwilioClient, Twiml

FALLBACK_LINE = "+441632960500"
AFTER_MINUTES = 5
# One turn of the loop as a caller lives it: the prompts spoken, the key's 3 s, the 15 s pause.
TURN_SECONDS = 36

PLAIN = "Sorry, our computer system is not working properly at the moment."
NOT_LOST = "If you were already waiting in the queue, you have not lost your place."
HELP = "If things get worse, or if it is an emergency, press 1 or say yes now"
PUT_THROUGH = "we are putting you through to another NHS service that can help you"
NOT_THROUGH = "Sorry, we could not get through to the other NHS service."
WELSH_PLAIN = "Mae'n ddrwg gennym, nid yw ein system gyfrifiadurol yn gweithio'n iawn"
WELSH_HELP = "Os bydd pethau'n gwaethygu, neu os yw'n argyfwng, pwyswch 1 nawr"
WELSH_PUT_THROUGH = "rydym yn eich trosglwyddo i wasanaeth GIG arall"
WELSH_NOT_THROUGH = "ni allem gysylltu â'r gwasanaeth GIG arall"


@pytest.fixture
def line_twilio(redis_url: str, clock: VirtualClock) -> Iterator[TwilioClient]:
    """The app with a fallback line set."""
    settings = make_settings(
        redis_url,
        fallback_line_number=FALLBACK_LINE,
        fallback_line_after_minutes=AFTER_MINUTES,
    )
    with TestClient(create_app(settings, clock=clock)) as client:
        yield TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)


def assert_a_plain_retry(turn: Twiml, language: str = "en-GB") -> None:
    """What is happening and how to get help, said while key 1 works; then a pause, and back."""
    assert turn.verbs == ["Gather", "Pause", "Redirect"], turn.xml
    gather = turn.first("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("input") == ("dtmf speech" if language == "en-GB" else "dtmf")
    assert [say.get("language") for say in gather.iter("Say")] == [language] * len(turn.said)
    assert "/twilio/retry?" in gather.get("action", "")
    assert turn.first("Pause").get("length") == "15"
    assert turn.first("Redirect").text == gather.get("action")


def assert_the_emergency_key_dials_dispatch(call: Call, turn: Twiml, speech: bool = True) -> None:
    assert call.press(turn, "1").first("Number").text == DISPATCH
    if speech:
        assert call.say_words(turn, "yes please").first("Number").text == DISPATCH


def test_with_redis_down_a_caller_hears_plainly_each_turn_then_the_fallback_line_on_time(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    reasons = to_queue(call, "2")
    redis_server.kill()
    started = clock.now()
    turn = call.press(reasons, "1")  # the call cannot be placed: trouble starts now

    turns = 0
    while True:
        assert_a_plain_retry(turn)
        assert turn.said[0].startswith(PLAIN)
        assert NOT_LOST in turn.said[0]
        assert turn.said[1].startswith(HELP)
        assert "dial 999" in turn.said[1]
        assert_the_emergency_key_dials_dispatch(call, turn)
        if clock.now() - started + TURN_SECONDS >= AFTER_MINUTES * 60:
            break
        clock.advance(TURN_SECONDS)
        turn = call.silence(turn)
        turns += 1
    assert turns == 8

    clock.set(started + AFTER_MINUTES * 60 - 1)
    assert_a_plain_retry(turn := call.silence(turn))  # not a second before

    clock.set(started + AFTER_MINUTES * 60)
    dial = call.silence(turn)
    assert dial.verbs == ["Say", "Dial"]
    assert PUT_THROUGH in dial.said[0]
    element = dial.first("Dial")
    assert element.get("action", "").startswith(f"{PUBLIC_BASE_URL}/twilio/fallback-line-result")
    assert [(number.text, number.get("url")) for number in element] == [(FALLBACK_LINE, None)]


def test_pressing_2_or_another_key_in_the_retry_loop_keeps_the_clock(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    """A key is not a fresh start: the minutes count from the first failure, whatever is pressed."""
    call = line_twilio.call(CALLER, MAIN_LINE)
    reasons = to_queue(call, "2")
    redis_server.kill()
    turn = call.press(reasons, "1")
    clock.advance(AFTER_MINUTES * 60 - 10)
    turn = call.press(turn, "2")
    assert_a_plain_retry(turn)
    clock.advance(10)
    assert call.press(turn, "7").first("Number").text == FALLBACK_LINE


def test_with_no_fallback_line_a_caller_is_never_hung_up_on(
    twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    reasons = to_queue(call, "2")
    redis_server.kill()
    turn = call.press(reasons, "1")
    for number in range(150):  # an hour and a half
        assert_a_plain_retry(turn)
        assert turn.said[0].startswith(PLAIN)
        assert turn.said[1].startswith(HELP)
        if number % 25 == 0:
            assert_the_emergency_key_dials_dispatch(call, turn)
        clock.advance(TURN_SECONDS)
        turn = call.silence(turn)
    assert not any(twiml.has("Hangup") for twiml in call.heard)
    dialled = {twiml.first("Number").text for twiml in call.heard if twiml.has("Number")}
    assert dialled == {DISPATCH}  # only ever by the emergency key


def test_a_welsh_caller_hears_welsh_each_turn_and_on_the_way_to_the_fallback_line(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call = line_twilio.call(CALLER, WELSH_LINE)
    reasons = to_queue(call, "1", "2")  # Welsh, not an emergency
    redis_server.kill()
    turn = call.press(reasons, "1")
    assert_a_plain_retry(turn, "cy-GB")
    assert turn.said[0].startswith(WELSH_PLAIN)
    assert turn.said[1].startswith(WELSH_HELP)
    dial = call.press(turn, "1")  # keypad only: Twilio has no Welsh speech recognition
    assert dial.first("Say").get("language") == "cy-GB"
    assert dial.first("Number").text == DISPATCH

    clock.advance(AFTER_MINUTES * 60)
    through = call.silence(turn)
    assert through.verbs == ["Say", "Dial"]
    assert through.first("Say").get("language") == "cy-GB"
    assert WELSH_PUT_THROUGH in through.said[0]

    action = through.first("Dial").get("action", "")
    back = call._got(line_twilio.twiml(action, call.params(DialCallStatus="no-answer")))
    assert_a_plain_retry(back, "cy-GB")
    assert WELSH_NOT_THROUGH in back.said[0]
    assert back.said[1].startswith(WELSH_PLAIN)


def to_the_fallback_line(
    twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> tuple[Call, Twiml]:
    call = twilio.call(CALLER, MAIN_LINE)
    reasons = to_queue(call, "2")
    redis_server.kill()
    turn = call.press(reasons, "1")
    clock.advance(AFTER_MINUTES * 60)
    dial = call.silence(turn)
    assert dial.first("Number").text == FALLBACK_LINE
    return call, dial


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", ""])
def test_a_failed_fallback_dial_brings_the_caller_back_and_tries_the_line_again_later(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock, status: str
) -> None:
    call, dial = to_the_fallback_line(line_twilio, redis_server, clock)
    action = dial.first("Dial").get("action", "")

    back = call._got(line_twilio.twiml(action, call.params(DialCallStatus=status)))
    assert_a_plain_retry(back)
    assert back.said[0].startswith(NOT_THROUGH)
    assert back.said[1].startswith(PLAIN)
    assert back.said[2].startswith(HELP)
    assert_the_emergency_key_dials_dispatch(call, back)

    clock.advance(AFTER_MINUTES * 60 - 1)  # the minutes count again from the failed dial
    turn = call.silence(back)
    assert_a_plain_retry(turn)
    clock.advance(1)
    assert call.silence(turn).first("Number").text == FALLBACK_LINE


def test_a_fallback_dial_that_connected_ends_when_the_other_service_hangs_up(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call, dial = to_the_fallback_line(line_twilio, redis_server, clock)
    action = dial.first("Dial").get("action", "")
    assert line_twilio.twiml(action, call.params(DialCallStatus="completed")).verbs == []


def test_a_failed_fallback_dial_with_redis_back_puts_the_caller_in_the_queue(
    line_twilio: TwilioClient,
    redis_server: RedisServer,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    call, dial = to_the_fallback_line(line_twilio, redis_server, clock)
    redis_server.start()
    action = dial.first("Dial").get("action", "")
    back = call._got(line_twilio.twiml(action, call.params(DialCallStatus="busy")))
    assert back.verbs == ["Say", "Say", "Enqueue"]
    assert back.said[0].startswith(NOT_THROUGH)
    assert back.first("Enqueue").text == "general"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_when_redis_comes_back_the_caller_carries_on_with_their_answers(
    line_twilio: TwilioClient,
    redis_server: RedisServer,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    reasons = to_queue(call, "2")
    redis_server.kill()
    turn = call.press(reasons, "3")  # dental
    for _ in range(3):
        clock.advance(TURN_SECONDS)
        turn = call.silence(turn)
    redis_server.start()
    queued = call.silence(turn)
    assert queued.has("Enqueue")
    record = sync_redis.hgetall(keys.call(call.sid))
    assert record["status"] == "queued"
    assert json.loads(record["answers"])["reason"] == "dental"  # from the URL, not asked again


def test_a_queued_caller_hears_what_is_happening_then_waits_outside_the_queue_in_their_place(
    line_twilio: TwilioClient,
    redis_server: RedisServer,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    score = sync_redis.zscore(keys.queue("general"), call.sid)
    redis_server.stop()  # the AOF written: the place is there when it comes back

    first = call.hold(enqueue)
    assert first.verbs == ["Say", "Say", "Pause", "Redirect"]
    assert first.said[0].startswith(PLAIN)
    assert "hang up and call 999" in first.said[1]
    clock.advance(25)
    assert call.hold(first).verbs == ["Leave"]  # still down a turn later: out of Twilio's queue

    outside = call.leave_queue(enqueue)
    assert_a_plain_retry(outside)
    assert outside.said[0].startswith(PLAIN)
    assert EMERGENCY_WORDS in outside.said[1]  # the queue's URL does not say how they answered
    assert_the_emergency_key_dials_dispatch(call, outside)

    redis_server.start()
    back = call.silence(outside)
    assert back.first("Enqueue").text == "general"
    assert "You are still in the queue." in back.said
    assert sync_redis.zscore(keys.queue("general"), call.sid) == score


def test_a_queued_caller_reaches_the_fallback_line_from_outside_the_queue(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    redis_server.kill()
    clock.advance(25)
    first = call.hold(enqueue)
    clock.advance(25)
    call.hold(first)
    outside = call.leave_queue(enqueue)
    clock.advance(AFTER_MINUTES * 60 - 1)
    turn = call.silence(outside)
    assert_a_plain_retry(turn)
    clock.advance(1)
    assert call.silence(turn).first("Number").text == FALLBACK_LINE


def test_a_blip_in_the_hold_loop_moves_nobody(
    line_twilio: TwilioClient, redis_server: RedisServer, clock: VirtualClock
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    redis_server.stop()
    first = call.hold(enqueue)
    redis_server.start()
    clock.advance(25)
    again = call.hold(first)
    assert again.verbs[-2:] == ["Pause", "Redirect"]
    assert "down_since" not in (again.first("Redirect").text or "")


def test_a_queued_caller_helped_by_the_fallback_line_is_counted_diverted_not_abandoned(
    line_twilio: TwilioClient,
    redis_server: RedisServer,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    call = line_twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    redis_server.stop()  # its data kept: the caller's place is there when it comes back
    clock.advance(25)
    call.hold(call.hold(enqueue))
    outside = call.leave_queue(enqueue)
    clock.advance(AFTER_MINUTES * 60)
    dial = call.silence(outside)
    assert dial.first("Number").text == FALLBACK_LINE
    redis_server.start()  # back while they talk to the other service

    action = dial.first("Dial").get("action", "")
    assert line_twilio.twiml(action, call.params(DialCallStatus="completed")).verbs == []
    call.status("completed")

    assert sync_redis.hget(keys.call(call.sid), "dispatched_at") is not None  # as diverted
    assert sync_redis.zscore(keys.queue("general"), call.sid) is None
    kinds = [str(m).split("|")[1] for m in sync_redis.zrange(keys.STATS_SAMPLES, 0, -1)]
    assert ("diverted" in kinds, "abandoned" in kinds) == (True, False)
