"""`<Enqueue>`: the waitUrl loop, Gather and Leave while waiting, hang-ups, REST redirects."""

from __future__ import annotations

import re

from starlette.responses import Response
from twilio.rest import Client

from tests.sim.servers import (
    AppUnderTest,
    Received,
    SimClient,
    twiml,
)

ENQUEUE = twiml(
    '<Say>Please hold.</Say><Enqueue waitUrl="/hold" action="/queue-done">urgent</Enqueue>',
    "<Say>After the queue.</Say>",
)


def holding(request: Received) -> str:
    return twiml(f"<Say>You are number {request.params['QueuePosition']}.</Say>", "<Pause/>")


def test_the_wait_url_is_requested_again_each_time_its_twiml_runs_out(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on("/hold", holding)
    sid = sim.call()

    holds = app.wait_for("/hold", count=3)

    first = holds[0].params
    assert first["QueuePosition"] == "1"
    assert first["CurrentQueueSize"] == "1"
    assert re.fullmatch(r"QU[0-9a-f]{32}", first["QueueSid"])
    assert {hold.params["QueueSid"] for hold in holds} == {first["QueueSid"]}
    assert int(holds[2].params["QueueTime"]) >= 2  # each cycle says and pauses 1 s
    record = sim.record(sid)
    assert record["queue"]["name"] == "urgent"
    assert record["queue"]["position"] == 1
    sim.hang_up(sid)


def test_a_second_caller_is_second_in_the_queue(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on("/hold", holding)
    first = sim.call()
    app.wait_for("/hold")
    second = sim.call(caller="+447700900456")

    app.wait_for("/hold", count=2)
    theirs = next(hold for hold in app.to("/hold") if hold.params["CallSid"] == second)

    assert theirs.params["QueuePosition"] == "2"
    assert theirs.params["CurrentQueueSize"] == "2"
    sim.hang_up(first)
    sim.hang_up(second)


def test_gather_in_the_wait_then_leave_requests_the_action_with_queue_result_leave(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on(
        "/hold",
        twiml(
            '<Gather numDigits="1" action="/hold-choice">'
            "<Say>Press 1 for a callback.</Say></Gather>"
        ),
    )
    app.on("/hold-choice", twiml("<Say>Leaving.</Say><Leave/><Say>Not reached.</Say>"))
    app.on("/queue-done", twiml("<Say>We will call you back.</Say>"))
    sid = sim.call(["1"])

    record = sim.wait_ended(sid)

    choice = app.to("/hold-choice")[0].params
    assert choice["Digits"] == "1"
    done = app.to("/queue-done")[0].params
    assert done["QueueResult"] == "leave"
    assert done["QueueSid"].startswith("QU")
    assert int(done["QueueTime"]) < 5  # no simulated waiting; real overheads count, scaled up
    says = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert says == ["Please hold.", "Press 1 for a callback.", "Leaving.", "We will call you back."]
    types = [event["type"] for event in record["events"]]
    assert types.index("enqueue") < types.index("leave") < types.index("dequeued")
    assert record["queue"] is None


def test_leave_without_an_action_continues_after_the_enqueue(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Enqueue waitUrl="/hold">q</Enqueue><Say>After.</Say>'))
    app.on("/hold", twiml("<Leave/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    says = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert says == ["After."]


def test_caller_hanging_up_in_the_queue_reports_queue_result_hangup(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on("/hold", twiml('<Pause length="600"/>'))
    app.on("/queue-done", twiml("<Say>Ignored.</Say>"))
    sid = sim.call()
    sim.wait_event(sid, "pause")

    sim.hang_up(sid)

    record = sim.wait_ended(sid)
    done = app.wait_for("/queue-done")[0].params
    assert done["QueueResult"] == "hangup"
    assert done["CallStatus"] == "completed"
    [callback] = app.wait_for("/twilio/status")
    assert callback.params["CallStatus"] == "completed"
    assert [event["by"] for event in record["events"] if event["type"] == "hangup"] == ["caller"]
    assert not [event for event in record["events"] if event.get("text") == "Ignored."]
    assert sim.http.get("/sim/queues").json()["queues"][0]["size"] == 0


def test_rest_redirect_takes_a_call_out_of_the_queue(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on("/hold", twiml('<Say>Hold music.</Say><Pause length="600"/>'))
    app.on("/queue-done", twiml("<Say>Ignored.</Say>"))
    app.on("/connect", twiml("<Say>Connecting you now.</Say>"))
    sid = sim.call()
    sim.wait_event(sid, "pause")

    call = rest.calls(sid).update(url=app.url("/connect"), method="POST")

    assert call.sid == sid
    record = sim.wait_ended(sid)
    assert app.to("/queue-done")[0].params["QueueResult"] == "redirected"
    assert app.to("/connect")[0].params["CallStatus"] == "in-progress"
    says = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert says == ["Please hold.", "Hold music.", "Connecting you now."]
    [redirect] = [event for event in record["events"] if event["type"] == "redirect"]
    assert (redirect["by"], redirect["url"]) == ("api", app.url("/connect"))
    dequeued = [event for event in record["events"] if event["type"] == "dequeued"]
    assert [event["result"] for event in dequeued] == ["redirected"]


def test_a_failing_wait_url_takes_the_call_out_of_the_queue_to_the_fallback(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", ENQUEUE)
    app.on("/hold", lambda request: Response(status_code=500))
    app.on("/queue-done", twiml("<Say>Ignored.</Say>"))
    app.on("/twilio/fallback", twiml("<Say>Fallback.</Say>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert app.to("/queue-done")[0].params["QueueResult"] == "error"
    fallback = app.to("/twilio/fallback")[0].params
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == ("11200", app.url("/hold"))
    assert [error["code"] for error in record["events"] if error["type"] == "error"] == [11200]
