"""The REST subset, driven by the real twilio library pointed at the sim."""

from __future__ import annotations

import re

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.sim.servers import ACCOUNT_SID, AUTH_TOKEN, AppUnderTest, SimClient, twiml, wait_until

PATIENT = "+447700900456"
LINE = "+441134960000"


def test_outbound_call_with_machine_detection_reaches_a_machine(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(PATIENT, answer="machine", ring_seconds=2)
    app.on("/callback/answered", twiml("<Say>This is Lifeline returning your call.</Say>"))

    call = rest.calls.create(
        to=PATIENT,
        from_=LINE,
        url=app.url("/callback/answered"),
        method="POST",
        status_callback=app.url("/callback/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
    )

    assert call.status == "queued"
    assert call.direction == "outbound-api"
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert (call.to, call.from_formatted, call.account_sid) == (PATIENT, LINE, ACCOUNT_SID)
    answered = app.wait_for("/callback/answered")[0].params
    assert answered["AnsweredBy"] == "machine_start"
    assert (answered["Direction"], answered["From"], answered["To"]) == (
        "outbound-api",
        LINE,
        PATIENT,
    )
    callbacks = app.wait_for("/callback/status", count=4)
    assert [c.params["CallStatus"] for c in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [c.params["SequenceNumber"] for c in callbacks] == ["0", "1", "2", "3"]
    assert callbacks[3].params["AnsweredBy"] == "machine_start"
    assert "CallDuration" in callbacks[3].params
    fetched = rest.calls(call.sid).fetch()
    assert (fetched.status, fetched.answered_by) == ("completed", "machine_start")


def test_machine_detection_on_a_person_answers_human(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/callback/answered", twiml("<Hangup/>"))

    rest.calls.create(
        to=PATIENT, from_=LINE, url=app.url("/callback/answered"), machine_detection="Enable"
    )

    assert app.wait_for("/callback/answered")[0].params["AnsweredBy"] == "human"


def test_a_busy_callee_ends_busy_with_only_the_completed_callback(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(PATIENT, answer="busy")

    call = rest.calls.create(
        to=PATIENT,
        from_=LINE,
        url=app.url("/never"),
        status_callback=app.url("/callback/status"),
    )

    [callback] = app.wait_for("/callback/status")
    assert callback.params["CallStatus"] == "busy"
    assert callback.params["CallDuration"] == "0"
    assert app.to("/never") == []
    assert rest.calls(call.sid).fetch().status == "busy"


def test_the_callee_presses_scripted_keys_at_a_gather(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(PATIENT, inputs=["1"])
    app.on(
        "/callback/answered",
        twiml('<Gather numDigits="1" action="/callback/choice"><Say>Press 1.</Say></Gather>'),
    )
    app.on("/callback/choice", twiml("<Hangup/>"))

    call = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/callback/answered"))

    choice = app.wait_for("/callback/choice")[0].params
    assert (choice["Digits"], choice["CallSid"]) == ("1", call.sid)


def test_inline_twiml_runs_without_a_url(app: AppUnderTest, sim: SimClient, rest: Client) -> None:
    call = rest.calls.create(to=PATIENT, from_=LINE, twiml=twiml("<Say>Inline.</Say>"))

    record = sim.wait_ended(call.sid)

    assert [e["text"] for e in record["events"] if e["type"] == "say"] == ["Inline."]


def test_update_hangs_up_a_live_call_and_redirecting_it_afterwards_fails(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/callback/answered", twiml('<Pause length="600"/>'))
    call = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/callback/answered"))
    sim.wait_event(call.sid, "pause")
    assert rest.calls(call.sid).fetch().status == "in-progress"

    ended = rest.calls(call.sid).update(status="completed")

    assert ended.status == "completed"
    record = sim.record(call.sid)
    assert [e["by"] for e in record["events"] if e["type"] == "hangup"] == ["api"]
    with pytest.raises(TwilioRestException) as raised:
        rest.calls(call.sid).update(url=app.url("/callback/answered"), method="POST")
    assert (raised.value.status, raised.value.code) == (400, 21220)


def test_cancel_stops_a_ringing_call_but_not_a_connected_one(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(PATIENT, ring_seconds=600)
    call = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/never"))
    wait_until(lambda: rest.calls(call.sid).fetch().status == "ringing", "ringing")

    assert rest.calls(call.sid).update(status="canceled").status == "canceled"

    sim.party(PATIENT, ring_seconds=1)
    app.on("/callback/answered", twiml('<Pause length="600"/>'))
    connected = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/callback/answered"))
    sim.wait_event(connected.sid, "pause")
    assert rest.calls(connected.sid).update(status="canceled").status == "in-progress"
    rest.calls(connected.sid).update(status="completed")


def test_unknown_call_is_404_20404(sim: SimClient, rest: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        rest.calls("CA" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_wrong_credentials_are_401_20003(sim: SimClient) -> None:
    client = Client(ACCOUNT_SID, "wrong-token")
    client.api.base_url = sim.base_url
    with pytest.raises(TwilioRestException) as raised:
        client.calls("CA" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (401, 20003)


def test_missing_parameters_are_refused_with_twilio_codes(
    app: AppUnderTest, sim: SimClient
) -> None:
    url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    cases = [
        ({"From": LINE, "Url": app.url("/x")}, 21201),
        ({"To": PATIENT, "Url": app.url("/x")}, 21213),
        ({"To": PATIENT, "From": LINE}, 21205),
        ({"To": PATIENT, "From": LINE, "Url": "/relative"}, 21205),
        ({"To": PATIENT, "From": LINE, "Url": app.url("/x"), "Timeout": "soon"}, 21208),
    ]
    for form, code in cases:
        response = httpx.post(url, data=form, auth=auth)
        body = response.json()
        assert (response.status_code, body["code"]) == (400, code), form
        assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert body["status"] == 400
    assert sim.http.get("/sim/calls").json()["calls"] == []


def test_injected_rest_faults_fail_the_next_requests_then_clear(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/callback/answered", twiml("<Hangup/>"))
    sim.faults(rest={"status": 429, "count": 2})

    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/callback/answered"))
        assert (raised.value.status, raised.value.code) == (429, 20429)
    call = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/callback/answered"))

    assert call.status == "queued"
    logged = sim.http.get("/sim/requests").json()["requests"]
    assert [entry["status"] for entry in logged] == [429, 429, 201]
    assert logged[2]["params"]["To"] == PATIENT


def test_server_errors_can_be_injected_too(app: AppUnderTest, sim: SimClient, rest: Client) -> None:
    sim.faults(rest={"status": 500, "count": 1})

    with pytest.raises(TwilioRestException) as raised:
        rest.calls("CA" + "f" * 32).fetch()

    assert (raised.value.status, raised.value.code) == (500, 20500)
    assert sim.http.get("/sim/faults").json()["rest"] is None
