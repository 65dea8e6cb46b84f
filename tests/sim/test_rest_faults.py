"""Faults for the moments around a REST request: held before or after it takes effect, an error
answered once it took effect, faults on one method only, and status callbacks lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.sim.servers import AppUnderTest, SimClient, twiml, wait_until

PATIENT = "+447700900456"
LINE = "+441134960000"


@pytest.fixture
def background() -> Iterator[Callable[[Callable[[], Any]], Future[Any]]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit


def held(sim: SimClient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = sim.http.get("/sim/holds").json()["held"]
    return rows


def calls_to(sim: SimClient, address: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = sim.http.get("/sim/calls").json()["calls"]
    return [call for call in calls if call["to"] == address]


def test_a_create_held_at_its_answer_has_made_the_call_already(
    app: AppUnderTest,
    sim: SimClient,
    rest: Client,
    background: Callable[[Callable[[], Any]], Future[Any]],
) -> None:
    app.on("/answered", twiml("<Hangup/>"))
    sim.party(PATIENT, answer="busy", ring_seconds=1)
    sim.faults(hold={"stage": "answer", "method": "POST"})

    answer = background(lambda: rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/answered")))
    wait_until(lambda: len(held(sim)) == 1, "the create to be held")

    [hold] = held(sim)
    assert (hold["stage"], hold["method"]) == ("answer", "POST")
    assert hold["path"].endswith("/Calls.json")
    [made] = calls_to(sim, PATIENT)  # the call exists; its creator does not know it yet
    assert not answer.done()
    assert sim.http.post("/sim/holds/release", json={}).json() == {"released": 1}
    assert answer.result(timeout=10).sid == made["sid"]
    assert held(sim) == []


def test_a_create_held_before_it_takes_effect_and_dropped_makes_no_call(
    app: AppUnderTest,
    sim: SimClient,
    rest: Client,
    background: Callable[[Callable[[], Any]], Future[Any]],
) -> None:
    sim.faults(hold={"stage": "request", "method": "POST"})

    answer = background(lambda: rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/a")))
    wait_until(lambda: len(held(sim)) == 1, "the create to be held")

    assert calls_to(sim, PATIENT) == []
    sim.http.post("/sim/holds/release", json={"drop": True}).raise_for_status()
    with pytest.raises(TwilioRestException) as raised:
        answer.result(timeout=10)
    assert raised.value.status == 503
    assert calls_to(sim, PATIENT) == []
    # Held requests released without dropping carry on as usual.
    sim.faults(hold={"stage": "request"})
    answer = background(lambda: rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/a")))
    wait_until(lambda: len(held(sim)) == 1, "the create to be held")
    sim.http.post("/sim/holds/release", json={"drop": False}).raise_for_status()
    assert answer.result(timeout=10).to == PATIENT


def test_a_500_carried_out_made_the_call_and_lost_its_answer(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/answered", twiml("<Hangup/>"))
    sim.party(PATIENT, answer="busy", ring_seconds=1)
    sim.faults(rest={"status": 500, "count": 1, "carried_out": True})

    with pytest.raises(TwilioRestException) as raised:
        rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/answered"))

    assert raised.value.status == 500
    [made] = calls_to(sim, PATIENT)
    assert [call.sid for call in rest.calls.list(to=PATIENT)] == [made["sid"]]


def test_a_429_is_never_carried_out(sim: SimClient) -> None:
    response = sim.http.post(
        "/sim/faults", json={"rest": {"status": 429, "count": 1, "carried_out": True}}
    )
    assert response.status_code == 422


def test_rest_faults_can_be_kept_to_one_method(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/answered", twiml("<Hangup/>"))
    sim.party(PATIENT, answer="busy", ring_seconds=1)
    sim.faults(rest={"status": 500, "count": 2, "method": "GET"})

    call = rest.calls.create(to=PATIENT, from_=LINE, url=app.url("/answered"))
    for _ in range(2):
        with pytest.raises(TwilioRestException):
            rest.calls(call.sid).fetch()
    assert rest.calls(call.sid).fetch().sid == call.sid
    logged = sim.http.get("/sim/requests").json()["requests"]
    assert [(entry["method"], entry["status"]) for entry in logged] == [
        ("POST", 201),
        ("GET", 500),
        ("GET", 500),
        ("GET", 200),
    ]


def test_status_callbacks_can_be_lost(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml("<Say>Hi.</Say>"))
    events = ["initiated", "ringing", "answered", "completed"]
    sim.faults(status_callbacks={"drop": True})
    lost = sim.call(events=events)
    sim.wait_ended(lost)
    sim.http.delete("/sim/faults").raise_for_status()

    heard = sim.call(events=events)
    sim.wait_ended(heard)
    app.wait_for("/twilio/status", count=4)

    assert {item.params["CallSid"] for item in app.to("/twilio/status")} == {heard}
