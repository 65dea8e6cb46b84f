"""The control API's own contract: bodies, errors, long-polling, parties, reset."""

from __future__ import annotations

import time

from tests.sim.servers import AppUnderTest, SimClient, twiml


def test_bad_bodies_get_422_with_a_clear_message(sim: SimClient) -> None:
    cases = [
        ("/sim/calls", {"to": "+441134960000"}, "from"),
        ("/sim/calls", {"from": "+447700900123", "to": "x", "inputs": ["12a"]}, "12a"),
        ("/sim/calls", {"from": "+447700900123", "to": "x", "colour": "red"}, "colour"),
        ("/sim/faults", {"rest": {"status": 404, "count": 1}}, "status"),
    ]
    for path, body, mentions in cases:
        response = sim.http.post(path, json=body)
        assert response.status_code == 422, body
        assert mentions in response.json()["error"]
    not_json = sim.http.post("/sim/calls", content=b"{nope")
    assert not_json.status_code == 422


def test_unknown_calls_are_404(sim: SimClient) -> None:
    for path in ("/sim/calls/CA00", "/sim/calls/CA00/events"):
        assert sim.http.get(path).status_code == 404
    assert sim.http.post("/sim/calls/CA00/input", json={"digits": "1"}).status_code == 404
    assert sim.http.post("/sim/calls/CA00/hangup").status_code == 404


def test_live_input_needs_exactly_one_of_digits_or_speech(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Pause length="600"/>'))
    sid = sim.call()

    for body in ({}, {"digits": "1", "speech": "yes"}, {"digits": "x"}):
        assert sim.http.post(f"/sim/calls/{sid}/input", json=body).status_code == 422
    sim.hang_up(sid)
    assert sim.http.post(f"/sim/calls/{sid}/hangup").status_code == 409


def test_long_poll_returns_new_events_and_says_when_the_call_ended(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Pause length="600"/>'))
    sid = sim.call()
    first = sim.http.get(f"/sim/calls/{sid}/events", params={"after": -1, "wait": 5}).json()
    last_seq = first["events"][-1]["seq"]
    assert [event["seq"] for event in first["events"]] == list(range(last_seq + 1))
    assert first["ended"] is False

    started = time.monotonic()
    quiet = sim.http.get(f"/sim/calls/{sid}/events", params={"after": 10_000, "wait": 0.2})
    assert quiet.json() == {"events": [], "ended": False}
    assert time.monotonic() - started >= 0.2

    sim.hang_up(sid)
    rest = sim.http.get(f"/sim/calls/{sid}/events", params={"after": last_seq, "wait": 5}).json()
    assert rest["ended"] is True
    assert "hangup" in [event["type"] for event in rest["events"]]
    assert all(event["seq"] > last_seq for event in rest["events"])


def test_party_settings_and_reset(app: AppUnderTest, sim: SimClient) -> None:
    sim.party("client:handler-7", answer="busy", ring_seconds=3)

    party = sim.http.get("/sim/parties/client:handler-7").json()
    assert party["configured"] is True
    assert party["behaviour"] == {
        "answer": "busy",
        "ring_seconds": 3.0,
        "talk_seconds": 30.0,
        "inputs": [],
    }
    unknown = sim.http.get("/sim/parties/+441632960000").json()
    assert (unknown["configured"], unknown["behaviour"]["ring_seconds"]) == (False, 1.0)
    bad = sim.http.put("/sim/parties/x", json={"answer": "maybe"})
    assert bad.status_code == 422

    sim.reset()

    assert sim.http.get("/sim/parties/client:handler-7").json()["configured"] is False


def test_calls_list_summaries_and_withheld_callers(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml("<Hangup/>"))
    sid = sim.call(caller="anonymous")
    sim.wait_ended(sid)

    [summary] = sim.http.get("/sim/calls").json()["calls"]

    assert summary["sid"] == sid
    assert (summary["from"], summary["direction"], summary["ended"]) == (
        "anonymous",
        "inbound",
        True,
    )
    assert app.to("/twilio/voice")[0].params["From"] == "anonymous"
