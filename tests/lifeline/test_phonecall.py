"""`lifeline call` against the real phone simulator and a TwiML-serving application under test."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import TextIO

import pytest

from lifeline.phonecall import mask, parse_presses, place_call
from sim.phone.app import create_app
from sim.phone.config import LineUrls, PhoneConfig
from tests.sim.servers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    AppUnderTest,
    SimClient,
    free_port,
    serve,
    twiml,
    wait_until,
)

CALLER = "+447700900123"
LINE = "+441134960000"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[AppUnderTest, SimClient]]:
    app = AppUnderTest(AUTH_TOKEN)
    with serve(app.asgi(), free_port()) as app_url:
        app.base_url = app_url
        config = PhoneConfig(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            urls=LineUrls.under(app_url),
            time_scale=0.02,
            speech_words_per_second=0,
        )
        with serve(create_app(config), free_port()) as sim_url:
            sim = SimClient(sim_url)
            yield app, sim
            sim.close()


@pytest.fixture
def app(servers: tuple[AppUnderTest, SimClient]) -> AppUnderTest:
    servers[1].reset()
    servers[0].reset()
    return servers[0]


@pytest.fixture
def sim(servers: tuple[AppUnderTest, SimClient], app: AppUnderTest) -> SimClient:
    return servers[1]


@pytest.mark.parametrize(
    ("text", "presses"),
    [
        ("2,1", ["2", "1"]),
        ("2, ,1", ["2", "", "1"]),
        ("07700900123#", ["07700900123#"]),
        ("yes,*", ["speech:yes", "*"]),
        ("speech:no thanks", ["speech:no thanks"]),
    ],
)
def test_presses_are_keys_silences_or_speech(text: str, presses: list[str]) -> None:
    assert parse_presses(text) == presses


def test_phone_numbers_are_masked_to_their_last_three_digits() -> None:
    assert mask(f"from {CALLER} to 0113 496 0000") == "from …123 to …000"
    assert mask("press 1 or 22") == "press 1 or 22"


def test_scripted_call_prints_what_the_caller_hears_then_holds_and_hangs_up(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on(
        "/twilio/voice",
        twiml(
            '<Gather numDigits="1" action="/choice">'
            "<Say>For emergencies press 1.</Say><Say>Otherwise press 2.</Say></Gather>"
        ),
    )
    app.on(
        "/choice",
        twiml('<Say>Thank you.</Say><Enqueue waitUrl="/hold" action="/left">routine</Enqueue>'),
    )
    app.on("/hold", twiml("<Say>You are number 1 in the queue.</Say><Pause/>"))
    app.on("/left", twiml("<Say>Ignored.</Say>"))
    out = io.StringIO()

    status = place_call(sim.base_url, CALLER, LINE, ["2"], 0.2, out, None)

    assert status == 0
    lines = [line.split("] ", 1)[-1] for line in out.getvalue().splitlines()]
    heard = [line for line in lines if not line.startswith("(")]
    assert heard[0].startswith("Calling …000 from …123 (call CA")
    assert heard[1:6] == [  # the scripted caller hears each question out before pressing
        'Lifeline: "For emergencies press 1."',
        'Lifeline: "Otherwise press 2."',
        "You press 2",
        'Lifeline: "Thank you."',
        "On hold in queue 'routine'.",
    ]
    assert 'Lifeline: "You are number 1 in the queue."' in heard
    assert heard[-1] == "You hang up."
    assert app.to("/left")[0].params["QueueResult"] == "hangup"
    text = out.getvalue()
    assert "447700900123" not in text
    assert ACCOUNT_SID not in text
    assert AUTH_TOKEN not in text


def test_an_application_error_is_loud_and_exits_1(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", "<Response><Say>broken")
    app.on("/twilio/fallback", "also broken")
    out = io.StringIO()

    status = place_call(sim.base_url, CALLER, LINE, [], 0.0, out, None)

    assert status == 1
    text = out.getvalue()
    assert "!! APPLICATION ERROR 12100" in text
    assert "We are sorry, an application error has occurred. Goodbye." in text


def test_an_unreachable_simulator_exits_2_naming_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()

    status = place_call(url, CALLER, LINE, ["1"], 0.0, out, None)

    assert status == 2
    assert f"Cannot reach the phone simulator at {url}" in out.getvalue()


def type_at_the_first_gather(sim: SimClient, keyboard: TextIO) -> None:
    """A person at the keyboard: types `1` once the call's first Gather is listening."""

    def gathering() -> bool:
        calls = sim.http.get("/sim/calls").json()["calls"]
        return any(sim.events(call["sid"], "gather") for call in calls)

    wait_until(gathering, "a Gather")
    keyboard.write("1\n")
    keyboard.close()


def test_interactive_mode_sends_the_keys_typed(app: AppUnderTest, sim: SimClient) -> None:
    app.on(
        "/twilio/voice",
        twiml('<Gather numDigits="1" action="/choice"><Pause length="600"/></Gather>'),
    )
    app.on("/choice", lambda request: twiml(f"<Say>You chose {request.params['Digits']}.</Say>"))
    out = io.StringIO()
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as keys, os.fdopen(write_end, "w") as keyboard:
        typist = threading.Thread(target=type_at_the_first_gather, args=(sim, keyboard))
        typist.start()

        status = place_call(sim.base_url, CALLER, LINE, None, 0.0, out, keys)

        typist.join()

    assert status == 0
    assert 'Lifeline: "You chose 1."' in out.getvalue()
    assert "You press 1" in out.getvalue()
