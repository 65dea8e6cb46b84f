"""Fail-safe rules at the webhook edge: signatures, bad input, Redis down, the Fallback URL."""

from __future__ import annotations

import pytest
import redis

from ivr.signature import MAX_FIELDS
from lifeline.redis_server import RedisServer
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, DISPATCH, MAIN_LINE, WELSH_LINE
from tests.ivr.test_call_flow import EMERGENCY_WORDS, to_queue
from tests.staff import Staff
from tests.twilio import WAIT_URL_VERBS, TwilioClient, Twiml, new_sid


def voice_params(sid: str) -> dict[str, str]:
    return {"CallSid": sid, "From": CALLER, "To": MAIN_LINE, "CallStatus": "ringing"}


def test_a_request_without_a_signature_is_refused_and_changes_nothing(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    sid = new_sid()
    response = twilio.post("/twilio/voice", voice_params(sid), signature="")
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.text
    assert not sync_redis.exists(keys.call(sid))


def test_a_signature_that_is_not_ascii_is_refused_clearly_and_changes_nothing(
    twilio: TwilioClient, sync_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_sid()
    headers = [(b"x-twilio-signature", "sïgnature=".encode())]
    response = twilio.client.post("/twilio/voice", data=voice_params(sid), headers=headers)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.text
    assert not sync_redis.exists(keys.call(sid))
    assert not [record for record in caplog.records if record.exc_info]


def test_a_form_with_more_fields_than_twilio_ever_sends_is_refused_before_any_signature_work(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    sid = new_sid()
    crowded = voice_params(sid) | {f"f{n}": "x" for n in range(MAX_FIELDS)}
    response = twilio.post("/twilio/voice", crowded)  # even correctly signed
    assert response.status_code == 403
    assert not sync_redis.exists(keys.call(sid))
    usual = voice_params(sid) | {f"f{n}": "x" for n in range(MAX_FIELDS - 10)}
    assert twilio.post("/twilio/voice", usual).status_code == 200


def test_a_request_signed_with_another_token_is_refused(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    sid = new_sid()
    url = "https://lifeline.example.org/twilio/voice"
    from twilio.request_validator import RequestValidator

    forged = RequestValidator("not-our-token").compute_signature(url, voice_params(sid))
    assert twilio.post(url, voice_params(sid), signature=forged).status_code == 403
    assert not sync_redis.exists(keys.call(sid))


def test_a_signature_for_other_parameters_is_refused(twilio: TwilioClient) -> None:
    sid = new_sid()
    url = "https://lifeline.example.org/twilio/voice"
    signature = twilio.validator.compute_signature(url, voice_params(sid))
    tampered = voice_params(sid) | {"From": "+447700900999"}
    assert twilio.post(url, tampered, signature=signature).status_code == 403


def test_the_query_string_is_part_of_what_is_signed(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    action = call.start().first("Gather").get("action", "")
    signature = twilio.validator.compute_signature(action, call.params(Digits="2"))
    forged_url = action.replace("attempt=0", "").replace("locale=en-GB", "locale=cy-GB")
    response = twilio.post(forged_url, call.params(Digits="2"), signature=signature)
    assert response.status_code == 403


def test_a_body_over_64_kib_is_refused(twilio: TwilioClient) -> None:
    params = voice_params(new_sid()) | {"Padding": "x" * 70_000}
    response = twilio.post("/twilio/voice", params)
    assert response.status_code == 413


def test_a_signed_but_malformed_request_still_gets_the_emergency_route(
    twilio: TwilioClient,
) -> None:
    twiml = twilio.twiml("/twilio/voice", {"CallSid": "not-a-sid", "From": CALLER})
    assert EMERGENCY_WORDS in twiml.text
    assert twiml.first("Gather").get("numDigits") == "1"


def test_an_unknown_step_is_answered_with_the_safe_route(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = twilio.twiml("/twilio/ivr/nonsense", call.params(Digits="1"))
    assert "our computer system is not working properly" in twiml.text
    assert EMERGENCY_WORDS in twiml.text  # not asked the screen yet: it is said whole


def test_with_redis_down_the_caller_hears_the_emergency_screen_and_reaches_dispatch(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    redis_server.kill()
    call = twilio.call(CALLER, MAIN_LINE)

    screen = call.start()
    assert EMERGENCY_WORDS in screen.text
    dial = call.press(screen, "1")

    assert dial.first("Number").text == DISPATCH


def test_with_redis_down_a_non_emergency_holds_with_the_emergency_key_live_and_retries(
    twilio: TwilioClient, redis_server: RedisServer, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    menu = call.press(call.start(), "2")
    redis_server.kill()

    waiting = call.press(menu, "1")
    assert waiting.verbs == ["Gather", "Pause", "Redirect"]
    assert "our computer system is not working properly" in waiting.text
    assert "if it is an emergency, press 1 or say yes now" in waiting.text

    redis_server.start()
    queued = call.silence(waiting)
    assert queued.first("Enqueue").text == "general"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_with_redis_down_mid_queue_an_emergency_leaves_for_dispatch_at_once(
    twilio: TwilioClient, redis_server: RedisServer, sync_redis: redis.Redis, staff: Staff
) -> None:
    """Nobody can be offered the call while Redis is gone: no point waiting out the limit."""
    staff("h1", state=HandlerState.AVAILABLE)  # offered to h1, whose phone is about to ring
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    redis_server.kill()

    assert call.hold(enqueue, queue_time=2).verbs == ["Leave"]
    assert call.leave_queue(enqueue).first("Number").text == DISPATCH


def test_with_redis_down_mid_queue_others_are_told_to_hold(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    redis_server.kill()
    turn = call.hold(enqueue)
    assert "our computer system is not working properly" in turn.said[0]
    assert "call 999" in turn.said[1]
    assert turn.verbs == ["Say", "Say", "Pause", "Redirect"]


def test_the_fallback_url_needs_nothing_but_settings(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    redis_server.kill()
    sid = new_sid()
    params = voice_params(sid) | {
        "ErrorCode": "11200",
        "ErrorUrl": "https://x.example/twilio/voice",
    }
    screen = twilio.twiml("/twilio/fallback", params)
    assert EMERGENCY_WORDS in screen.text
    action = screen.first("Gather").get("action", "")
    assert action.endswith("/twilio/fallback?step=emergency")

    dial = twilio.twiml(action, voice_params(sid) | {"Digits": "1"})
    assert dial.first("Number").text == DISPATCH
    busy = twilio.twiml(
        dial.first("Dial").get("action", ""), voice_params(sid) | {"DialCallStatus": "busy"}
    )
    assert busy.first("Number").text == DISPATCH


def test_a_non_emergency_at_the_fallback_goes_back_to_the_main_flow(
    twilio: TwilioClient,
) -> None:
    sid = new_sid()
    screen = twilio.twiml("/twilio/fallback", voice_params(sid))
    action = screen.first("Gather").get("action", "")
    back = twilio.twiml(action, voice_params(sid) | {"Digits": "2"})
    assert back.verbs == ["Say", "Say", "Redirect"]
    assert (
        back.said[1] == "Calls to NHS 111 are recorded, for your care and to improve our service."
    )
    menu = twilio.twiml(back.first("Redirect").text or "", voice_params(sid))
    assert "why you are calling" in menu.text


def test_every_twiml_we_answer_is_well_formed(
    twilio: TwilioClient, sync_redis: redis.Redis, clock: VirtualClock, staff: Staff
) -> None:
    """Twiml() refuses verbs in places Twilio refuses them; run a full call through it."""
    staff("h1")
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")
    turn = call.hold(enqueue)
    for _ in range(4):
        turn = call.hold(turn)
        clock.advance(25)
    assert all(isinstance(twiml, Twiml) for twiml in call.heard)
    assert len(call.heard) == 8


WELSH_DIFFICULTY = "Rydym yn cael rhai anawsterau technegol. Arhoswch ar y lein."


def test_a_welsh_caller_at_the_fallback_hears_welsh_to_the_dispatch_line(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    redis_server.kill()
    sid = new_sid()
    failed = "https://lifeline.example.org/twilio/ivr/reason?locale=cy-GB&screen=no"
    params = voice_params(sid) | {"To": WELSH_LINE, "ErrorCode": "11200", "ErrorUrl": failed}
    screen = twilio.twiml("/twilio/fallback", params)
    gather = screen.first("Gather")
    assert screen.said[0] == WELSH_DIFFICULTY
    assert gather.get("input") == "dtmf"  # no Welsh speech recognition
    assert gather.find("Say").get("language") == "cy-GB"  # type: ignore[union-attr]
    action = gather.get("action", "")
    assert action.endswith("/twilio/fallback?step=emergency&locale=cy-GB")

    dial = twilio.twiml(action, voice_params(sid) | {"Digits": "1"})
    assert dial.first("Say").get("language") == "cy-GB"
    again = dial.first("Dial").get("action", "")
    assert again.endswith("/twilio/fallback?step=dispatched&locale=cy-GB")
    busy = twilio.twiml(again, voice_params(sid) | {"DialCallStatus": "busy"})
    assert busy.first("Say").get("language") == "cy-GB"
    assert busy.first("Number").text == DISPATCH


def test_on_a_welsh_line_a_caller_of_unknown_language_hears_both_then_chooses(
    twilio: TwilioClient,
) -> None:
    sid = new_sid()
    params = voice_params(sid) | {"To": WELSH_LINE, "ErrorUrl": "https://x.example/twilio/voice"}
    screen = twilio.twiml("/twilio/fallback", params)
    languages = [say.get("language") for say in screen.first("Gather").iter("Say")]
    assert languages[0] == "cy-GB"
    assert "en-GB" in languages
    assert EMERGENCY_WORDS in screen.text
    action = screen.first("Gather").get("action", "")
    assert action.endswith("/twilio/fallback?step=emergency")  # language still unknown

    back = twilio.twiml(action, voice_params(sid) | {"To": WELSH_LINE, "Digits": "2"})
    choose = twilio.twiml(back.first("Redirect").text or "", voice_params(sid))
    assert "/twilio/ivr/language" in choose.first("Gather").get("action", "")


def test_a_welsh_emergency_whose_dispatch_line_is_busy_with_redis_down_stays_in_welsh(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call = twilio.call(CALLER, WELSH_LINE)
    dial = to_queue(call, "1", "1")  # Welsh, then the emergency: nobody on duty
    assert dial.first("Number").text == DISPATCH
    result = dial.first("Dial").get("action", "")
    assert "locale=cy-GB" in result
    redis_server.kill()
    busy = call._got(twilio.twiml(result, call.params(DialCallStatus="busy")))
    assert busy.first("Say").get("language") == "cy-GB"
    assert busy.first("Number").text == DISPATCH


def broken_record(sync_redis: redis.Redis, sid: str) -> None:
    """The call's record holds what no release wrote (a locale nobody speaks): every step that
    reads it fails, and not for want of Redis. (A rule set version that cannot be read no longer
    fails anything: routing goes on by the last one read, or the packaged default.)"""
    sync_redis.hset(keys.call(sid), "locale", "xx-XX")


@pytest.mark.parametrize("answer", [{"Digits": "1"}, {"SpeechResult": "yes", "Confidence": "0.8"}])
def test_a_yes_at_the_emergency_screen_whose_webhook_fails_still_dials_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, answer: dict[str, str]
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    screen = call.start()
    broken_record(sync_redis, call.sid)

    action = screen.first("Gather").get("action", "")
    dialled = twilio.twiml(action, call.params(**answer))

    assert dialled.first("Number").text == DISPATCH
    assert "ambulance service" in dialled.text


def test_a_no_at_the_emergency_screen_whose_webhook_fails_is_asked_again_with_the_key_live(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    screen = call.start()
    sync_redis.hset(keys.MODE, "mode", "no such mode")  # written by no release: unreadable
    after = call.press(screen, "2")  # not an emergency: the outage notice reads the mode
    assert not after.has("Dial")
    assert "/twilio/retry" in after.first("Gather").get("action", "")  # the safe route's
    assert "our computer system is not working" in after.text


def test_a_yes_at_the_emergency_screen_while_redis_answers_nobody_still_dials_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    """Every command hangs (the client gives up on each after its 1 s timeout)."""
    call = twilio.call(CALLER, MAIN_LINE)
    screen = call.start()
    sync_redis.client_pause(6000, all=True)
    try:
        dialled = call.press(screen, "1")
    finally:
        sync_redis.client_unpause()
    assert dialled.first("Number").text == DISPATCH


def test_a_failing_turn_of_an_emergencys_wait_loop_sends_them_to_dispatch(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)  # offered to h1: the emergency waits for the ring
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "1")
    sync_redis.hset(keys.call(call.sid), "locale", "xx-XX")  # the record cannot be read
    clock.advance(2)

    assert call.hold(enqueue).verbs == ["Leave"]  # not "please continue to hold", 15 s at a time


def test_a_failing_callback_offer_in_the_wait_loop_answers_with_what_a_wait_loop_runs(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = to_queue(call, "2", "1")  # nobody on duty: a callback is offered
    offer = call.hold(enqueue)
    redis_server.kill()

    answer = call.press(offer, "1")

    assert set(answer.verbs) <= WAIT_URL_VERBS  # no <Dial>, no <Enqueue> inside the wait loop
    assert answer.has("Redirect")
    if answer.has("Gather"):  # whatever is pressed next is still answered inside the wait loop
        assert set(call.press(answer, "1").verbs) <= WAIT_URL_VERBS
