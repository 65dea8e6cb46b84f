"""`<Gather>` on an inbound call: scripted and live input, barge-in, timeouts, speech, keys."""

from __future__ import annotations

from tests.sim.servers import AppUnderTest, SimClient, twiml

MENU = twiml(
    '<Gather numDigits="1" action="/menu" timeout="3">'
    "<Say>For emergencies press 1.</Say><Say>Otherwise press 2.</Say>"
    "</Gather>",
    "<Say>We did not hear you.</Say>",
)


def test_scripted_press_is_sent_to_the_action_with_twilio_parameters(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", MENU)
    app.on("/menu", twiml("<Say>Thank you.</Say>"))
    sid = sim.call(["2"])

    record = sim.wait_ended(sid)

    voice = app.to("/twilio/voice")[0]
    assert voice.params == {
        "AccountSid": voice.params["AccountSid"],
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": "+441134960000",
        "Caller": "+447700900123",
        "Direction": "inbound",
        "From": "+447700900123",
        "To": "+441134960000",
    }
    menu = app.to("/menu")[0]
    assert menu.params["Digits"] == "2"
    assert menu.params["FinishedOnKey"] == ""
    assert menu.params["CallStatus"] == "in-progress"
    types = [event["type"] for event in record["events"] if event["type"] != "request"]
    assert types == [
        "status",  # ringing
        "status",  # in-progress
        "gather",
        "say",  # the caller heard the first prompt start, then pressed
        "input",
        "say",
        "hangup",
        "status",
    ]
    says = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert says == ["For emergencies press 1.", "Thank you."]
    assert [event["by"] for event in record["events"] if event["type"] == "hangup"] == ["app"]
    assert record["status"] == "completed"


def test_no_input_falls_through_to_the_next_verb_after_the_timeout(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", MENU)
    sid = sim.call([""])

    record = sim.wait_ended(sid)

    assert app.to("/menu") == []
    gather_timeout = [event for event in record["events"] if event["type"] == "gather_timeout"]
    assert len(gather_timeout) == 1
    says = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert says == ["For emergencies press 1.", "Otherwise press 2.", "We did not hear you."]


def test_action_on_empty_result_requests_the_action_with_empty_digits(
    app: AppUnderTest, sim: SimClient
) -> None:
    gather = twiml('<Gather actionOnEmptyResult="true" timeout="1"/>')
    app.on(
        "/twilio/voice",
        lambda request: twiml("<Hangup/>") if "Digits" in request.params else gather,
    )
    sid = sim.call()

    sim.wait_ended(sid)

    # No action attribute: the action is the current document's URL.
    requests = app.to("/twilio/voice")
    assert len(requests) == 2
    assert requests[1].params["Digits"] == ""


def test_live_key_press_barges_in_on_a_long_prompt(app: AppUnderTest, sim: SimClient) -> None:
    app.on(
        "/twilio/voice",
        twiml(
            '<Gather numDigits="1" action="/menu">'
            '<Pause length="600"/><Say>Never reached.</Say></Gather>'
        ),
    )
    app.on("/menu", twiml("<Hangup/>"))
    sid = sim.call()
    sim.wait_event(sid, "pause")

    assert sim.press(sid, "1") is True

    record = sim.wait_ended(sid)
    assert app.to("/menu")[0].params["Digits"] == "1"
    assert not [event for event in record["events"] if event["type"] == "say"]
    # 600 s of pause were cut short: the call lasted seconds, not minutes (simulated time).
    assert record["events"][-1]["t"] < 60


def test_several_keys_in_one_input_stop_at_finish_on_key(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Gather action="/number" finishOnKey="#"/>'))
    app.on("/number", twiml("<Hangup/>"))
    sid = sim.call(["07700900123#"])

    sim.wait_ended(sid)

    params = app.to("/number")[0].params
    assert (params["Digits"], params["FinishedOnKey"]) == ("07700900123", "#")


def test_keys_beyond_num_digits_are_dropped(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Gather numDigits="2" action="/pin"/>'))
    app.on("/pin", twiml("<Hangup/>"))
    sid = sim.call(["1234"])

    sim.wait_ended(sid)

    assert app.to("/pin")[0].params["Digits"] == "12"


def test_live_keys_are_collected_until_the_timeout_after_the_last_one(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Gather action="/number" timeout="5"/>'))
    app.on("/number", twiml("<Hangup/>"))
    sid = sim.call()
    sim.wait_event(sid, "gather")

    sim.press(sid, "07")
    sim.press(sid, "7")

    sim.wait_ended(sid)
    params = app.to("/number")[0].params
    assert (params["Digits"], params["FinishedOnKey"]) == ("077", "")


def test_speech_is_sent_as_speech_result_with_confidence(app: AppUnderTest, sim: SimClient) -> None:
    app.on(
        "/twilio/voice",
        twiml('<Gather input="speech dtmf" action="/said"><Say>Say yes or no.</Say></Gather>'),
    )
    app.on("/said", twiml("<Hangup/>"))
    sid = sim.call(["speech:yes please"])

    sim.wait_ended(sid)

    params = app.to("/said")[0].params
    assert params["SpeechResult"] == "yes please"
    assert params["Confidence"] == "0.9"
    assert "Digits" not in params


def test_speech_at_a_keys_only_gather_is_not_heard(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Gather action="/said" timeout="1"/>', "<Hangup/>"))
    sid = sim.call(["speech:yes"])

    record = sim.wait_ended(sid)

    assert app.to("/said") == []
    inputs = [event for event in record["events"] if event["type"] == "input"]
    assert inputs[0]["speech"] == "yes"
    assert inputs[0]["ignored"] is True


def test_keys_pressed_outside_a_gather_are_lost(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Pause length="600"/>'))
    sid = sim.call()
    sim.wait_event(sid, "pause")

    assert sim.press(sid, "5") is False

    sim.hang_up(sid)
    record = sim.wait_ended(sid)
    assert [event["by"] for event in record["events"] if event["type"] == "hangup"] == ["caller"]
