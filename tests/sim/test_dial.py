"""`<Dial>` to simulated parties: whispers, bridges, and every DialCallStatus."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.rest import Client

from tests.sim.servers import AppUnderTest, Received, SimClient, twiml

HANDLER = "client:handler-7"
DISPATCH = "+441632960999"


def of_type(record: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    return [event for event in record["events"] if event["type"] in types]


def whisper_choice(request: Received) -> str:
    if request.params.get("Digits") == "1":
        return twiml("<Say>Connecting.</Say>")
    return twiml("<Hangup/>")


def serve_whisper(app: AppUnderTest) -> None:
    app.on(
        "/whisper",
        twiml(
            '<Gather numDigits="1" action="/whisper-choice">'
            "<Say>Urgent call. Press 1 to accept.</Say></Gather><Hangup/>"
        ),
    )
    app.on("/whisper-choice", whisper_choice)
    app.on("/dial-done", twiml("<Say>The handler has left.</Say>"))


def test_client_with_a_whisper_is_bridged_then_the_action_hears_completed(
    app: AppUnderTest, sim: SimClient
) -> None:
    sim.party(HANDLER, answer="answer", ring_seconds=2, talk_seconds=3, inputs=["1"])
    serve_whisper(app)
    app.on(
        "/twilio/voice",
        twiml(
            '<Dial action="/dial-done" timeout="20">'
            '<Client url="/whisper">handler-7</Client></Dial>'
        ),
    )
    sid = sim.call()

    record = sim.wait_ended(sid)

    [child_sid] = record["children"]
    whisper = app.to("/whisper")[0].params
    assert whisper["CallSid"] == child_sid
    assert whisper["ParentCallSid"] == sid
    assert whisper["Direction"] == "outbound-dial"
    assert (whisper["From"], whisper["To"]) == ("+447700900123", HANDLER)
    assert whisper["CallStatus"] == "in-progress"
    done = app.to("/dial-done")[0].params
    assert done["DialCallStatus"] == "completed"
    assert done["DialCallSid"] == child_sid
    assert done["DialBridged"] == "true"
    # 3 s of talk, plus the whisper's webhooks (real milliseconds are long at a 0.02 time scale).
    assert 3 <= int(done["DialCallDuration"]) <= 8
    assert [
        event["type"]
        for event in of_type(record, "dial", "ringing", "answered", "bridged", "dial_ended")
    ] == [
        "dial",
        "ringing",
        "answered",
        "bridged",
        "dial_ended",
    ]
    assert of_type(record, "dial")[0]["targets"] == [HANDLER]
    party = sim.http.get(f"/sim/parties/{HANDLER}").json()
    [leg] = party["legs"]
    assert leg["sid"] == child_sid
    heard = [event.get("text") for event in leg["events"] if event["type"] == "say"]
    assert heard == ["Urgent call. Press 1 to accept.", "Connecting."]
    assert [event["by"] for event in of_type(leg, "hangup")] == ["callee"]
    says = [event["text"] for event in of_type(record, "say")]
    assert says == ["The handler has left."]


@pytest.mark.parametrize(("pressed", "bridged"), [("1", "true"), ("2", "false")])
def test_number_whisper_accepted_bridges_and_declined_does_not(
    app: AppUnderTest, sim: SimClient, pressed: str, bridged: str
) -> None:
    sim.party(DISPATCH, inputs=[pressed], talk_seconds=1)
    serve_whisper(app)
    app.on(
        "/twilio/voice",
        twiml(f'<Dial action="/dial-done"><Number url="/whisper">{DISPATCH}</Number></Dial>'),
    )
    sid = sim.call()

    record = sim.wait_ended(sid)

    done = app.to("/dial-done")[0].params
    # Declining in the whisper still counts as answered: completed, but never bridged.
    assert (done["DialCallStatus"], done["DialBridged"]) == ("completed", bridged)
    assert len(of_type(record, "bridged")) == (1 if bridged == "true" else 0)
    [child] = record["children"]
    assert app.to("/whisper")[0].params["To"] == DISPATCH
    child_record = sim.record(child)
    hung_up_by = "callee" if bridged == "true" else "app"
    assert [event["by"] for event in of_type(child_record, "hangup")] == [hung_up_by]
    assert child_record["status"] == "completed"


@pytest.mark.parametrize(
    ("answer", "status"),
    [("busy", "busy"), ("no-answer", "no-answer"), ("failed", "failed")],
)
def test_unanswered_dials_report_their_status(
    app: AppUnderTest, sim: SimClient, answer: str, status: str
) -> None:
    sim.party(DISPATCH, answer=answer, ring_seconds=1)
    app.on("/twilio/voice", twiml(f'<Dial action="/dial-done" timeout="5">{DISPATCH}</Dial>'))
    app.on("/dial-done", twiml("<Say>No one came.</Say>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    done = app.to("/dial-done")[0].params
    assert done["DialCallStatus"] == status
    assert (done["DialCallDuration"], done["DialBridged"]) == ("0", "false")
    [child] = record["children"]
    assert sim.record(child)["status"] == status
    assert of_type(record, "dial_ended")[0]["status"] == status


def test_ringing_longer_than_the_dial_timeout_is_no_answer(
    app: AppUnderTest, sim: SimClient
) -> None:
    sim.party(DISPATCH, ring_seconds=40)
    app.on("/twilio/voice", twiml(f'<Dial action="/dial-done" timeout="10">{DISPATCH}</Dial>'))
    app.on("/dial-done", twiml("<Hangup/>"))
    sid = sim.call()

    sim.wait_ended(sid)

    assert app.to("/dial-done")[0].params["DialCallStatus"] == "no-answer"


def test_without_an_action_the_document_continues_after_the_dial(
    app: AppUnderTest, sim: SimClient
) -> None:
    sim.party(DISPATCH, talk_seconds=1)
    app.on(
        "/twilio/voice",
        twiml("<Dial>+44 1632 960999</Dial><Say>Call ended.</Say>"),
    )
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert of_type(record, "dial")[0]["targets"] == [DISPATCH]
    assert [event["text"] for event in of_type(record, "say")] == ["Call ended."]


def test_caller_hanging_up_mid_bridge_ends_the_callee_and_tells_the_action(
    app: AppUnderTest, sim: SimClient
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    app.on("/twilio/voice", twiml('<Dial action="/dial-done"><Client>handler-7</Client></Dial>'))
    app.on("/dial-done", twiml("<Say>Ignored.</Say>"))
    sid = sim.call()
    sim.wait_event(sid, "bridged")

    sim.hang_up(sid)

    record = sim.wait_ended(sid)
    done = app.wait_for("/dial-done")[0].params
    assert (done["DialCallStatus"], done["CallStatus"]) == ("completed", "completed")
    assert of_type(record, "say") == []
    child = sim.record(record["children"][0])
    assert [event["by"] for event in of_type(child, "hangup")] == ["caller"]


def test_the_first_of_several_numbers_to_answer_is_connected(
    app: AppUnderTest, sim: SimClient
) -> None:
    sim.party("+441632960001", ring_seconds=5)
    sim.party("+441632960002", ring_seconds=1, talk_seconds=1)
    app.on(
        "/twilio/voice",
        twiml(
            '<Dial action="/dial-done"><Number>+441632960001</Number>'
            "<Number>+441632960002</Number></Dial>"
        ),
    )
    app.on("/dial-done", twiml("<Hangup/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    slow, fast = (sim.record(child) for child in record["children"])
    assert app.to("/dial-done")[0].params["DialCallSid"] == fast["sid"]
    assert slow["status"] == "canceled"
    assert fast["status"] == "completed"


def test_redirecting_the_dialled_leg_ends_the_bridge_and_the_caller_goes_on_to_the_action(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    app.on("/twilio/voice", twiml('<Dial action="/dial-done"><Client>handler-7</Client></Dial>'))
    app.on("/dial-done", twiml("<Say>The handler has stepped away.</Say>"))
    sid = sim.call()
    sim.wait_event(sid, "bridged")
    [child] = sim.record(sid)["children"]

    rest.calls(child).update(
        twiml='<Response><Say>On your own now.</Say><Pause length="600"/></Response>'
    )

    record = sim.wait_ended(sid)
    assert not sim.record(child)["ended"]  # the caller went on while the child still talks
    sim.hang_up(child)
    done = app.wait_for("/dial-done")[0].params
    assert (done["DialCallStatus"], done["DialBridged"], done["DialCallSid"]) == (
        "completed",
        "true",
        child,
    )
    assert done["CallStatus"] == "in-progress"
    assert [event["text"] for event in of_type(record, "say")] == ["The handler has stepped away."]
    child_record = sim.wait_ended(child)
    assert [event["text"] for event in of_type(child_record, "say")] == ["On your own now."]
    assert [event["by"] for event in of_type(child_record, "redirect")] == ["api"]
    assert [event["by"] for event in of_type(child_record, "hangup")] == ["callee"]


def test_redirecting_the_caller_mid_bridge_hangs_up_the_dialled_leg_without_the_action(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    app.on("/twilio/voice", twiml('<Dial action="/dial-done"><Client>handler-7</Client></Dial>'))
    app.on("/dial-done", twiml("<Say>Ignored.</Say>"))
    app.on("/elsewhere", twiml("<Say>Somewhere else.</Say>"))
    sid = sim.call()
    sim.wait_event(sid, "bridged")
    [child] = sim.record(sid)["children"]

    rest.calls(sid).update(url=app.url("/elsewhere"))

    record = sim.wait_ended(sid)
    assert [event["text"] for event in of_type(record, "say")] == ["Somewhere else."]
    assert app.to("/dial-done") == []
    child_record = sim.wait_ended(child)
    assert [event["by"] for event in of_type(child_record, "hangup")] == ["caller"]
    assert child_record["status"] == "completed"
