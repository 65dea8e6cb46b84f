"""The Calls list, as Twilio documents it: filters by To, From and Status, StartTime to the day, a
queued call with no start time, newest first, paged; driven by the real twilio library."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from tests.sim.servers import ACCOUNT_SID, AUTH_TOKEN, AppUnderTest, SimClient, twiml

PATIENT = "+447700900456"
OTHER = "+447700900789"
LINE = "+441134960000"
LIST = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


@pytest.fixture
def hangs_up(app: AppUnderTest) -> str:
    app.on("/answered", twiml("<Hangup/>"))
    return app.url("/answered")


def placed(rest: Client, url: str, to: str = PATIENT, from_: str = LINE) -> str:
    return str(rest.calls.create(to=to, from_=from_, url=url).sid)


def raw_list(sim: SimClient, **params: str) -> dict[str, Any]:
    response = sim.http.get(LIST, params=params, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_list_filters_by_to_from_and_status_newest_first(
    sim: SimClient, rest: Client, hangs_up: str
) -> None:
    sim.party(PATIENT, answer="busy", ring_seconds=1)
    sim.party(OTHER, answer="busy", ring_seconds=1)
    first = placed(rest, hangs_up)
    second = placed(rest, hangs_up)
    placed(rest, hangs_up, to=OTHER)
    placed(rest, hangs_up, from_="+441134960001")
    for sid in (first, second):
        sim.wait_ended(sid)

    listed = rest.calls.list(to=PATIENT, from_=LINE)

    assert [call.sid for call in listed] == [second, first]
    assert {call.status for call in listed} == {"busy"}
    assert [call.sid for call in rest.calls.list(to=PATIENT, from_=LINE, status="busy")] == [
        second,
        first,
    ]
    assert rest.calls.list(to=PATIENT, from_=LINE, status="completed") == []


def test_start_time_works_to_the_day_and_a_queued_call_has_none(
    sim: SimClient, rest: Client, hangs_up: str
) -> None:
    # One call a thousand simulated seconds: the second is held in the account's queue.
    sim.http.put("/sim/account", json={"calls_per_second": 0.001}).raise_for_status()
    sim.party(PATIENT, answer="no-answer")
    dialled = placed(rest, hangs_up)
    queued = placed(rest, hangs_up)

    started = rest.calls(dialled).fetch()
    waiting = rest.calls(queued).fetch()
    assert started.start_time is not None
    assert (waiting.status, waiting.start_time) == ("queued", None)
    assert waiting.date_created is not None
    day = started.start_time.date()

    def sids(**filters: object) -> list[str]:
        return [call.sid for call in rest.calls.list(to=PATIENT, from_=LINE, **filters)]

    assert sids(start_time=day.isoformat()) == [dialled]
    assert sids(start_time_after=day.isoformat()) == [dialled]
    assert sids(start_time_after=(day + timedelta(days=1)).isoformat()) == []
    assert sids(start_time_before=(day - timedelta(days=1)).isoformat()) == []
    # A time of day counts for its day alone (the library sends one with a datetime).
    assert sids(start_time=started.start_time) == [dialled]
    assert sids(status="queued") == [queued]
    assert sids() == [queued, dialled]

    rest.calls(queued).update(status="canceled")
    assert rest.calls(queued).fetch().status == "canceled"
    assert rest.calls(queued).fetch().start_time is None


def test_the_list_comes_in_pages_linked_by_next_page_uri(
    sim: SimClient, rest: Client, hangs_up: str
) -> None:
    sim.party(PATIENT, answer="busy", ring_seconds=1)
    sids = [placed(rest, hangs_up) for _ in range(5)]

    page = raw_list(sim, To=PATIENT, PageSize="2")
    assert [call["sid"] for call in page["calls"]] == [sids[4], sids[3]]
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["previous_page_uri"] is None
    assert "PageToken=" in page["next_page_uri"]
    assert "To=%2B447700900456" in page["next_page_uri"]
    second = sim.http.get(page["next_page_uri"], auth=(ACCOUNT_SID, AUTH_TOKEN)).json()
    assert [call["sid"] for call in second["calls"]] == [sids[2], sids[1]]
    assert (second["page"], second["start"], second["end"]) == (1, 2, 3)
    assert second["previous_page_uri"] is not None

    # The library follows the pages itself.
    assert [call.sid for call in rest.calls.list(to=PATIENT, page_size=2)] == sids[::-1]
    assert [call.sid for call in rest.calls.list(to=PATIENT, limit=3)] == sids[:1:-1]


def test_bad_list_parameters_are_refused_as_twilio_refuses_them(
    sim: SimClient, rest: Client
) -> None:
    for params in ({"StartTime": "yesterday"}, {"PageSize": "0"}, {"PageSize": "1001"}):
        response = sim.http.get(LIST, params=params, auth=(ACCOUNT_SID, AUTH_TOKEN))
        assert response.status_code == 400, params
        assert response.json()["code"] == 20001
    # The library reads a list's error as a page it could not fetch, with Twilio's answer.
    with pytest.raises(TwilioException, match="Invalid StartTime>"):
        rest.calls.list(start_time_after="2026-13-01")
