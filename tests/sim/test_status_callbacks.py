"""Status callbacks for inbound calls, and the faults that double or reorder them."""

from __future__ import annotations

from starlette.responses import Response

from tests.sim.servers import AppUnderTest, SimClient, twiml

ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def test_inbound_calls_send_only_completed_by_default(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml("<Say>Hi.</Say>"))
    sid = sim.call()

    sim.wait_ended(sid)

    [callback] = app.wait_for("/twilio/status")
    assert callback.params["CallStatus"] == "completed"
    assert callback.params["CallSid"] == sid
    assert callback.params["Direction"] == "inbound"


def test_the_events_sent_are_configurable_per_call(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml("<Say>Hi.</Say>"))
    sid = sim.call(events=ALL_EVENTS)

    sim.wait_ended(sid)

    callbacks = app.wait_for("/twilio/status", count=4)
    assert [c.params["CallStatus"] for c in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]


def test_callbacks_can_be_delivered_twice(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml("<Say>Hi.</Say>"))
    sim.faults(status_callbacks={"duplicate": True})
    sid = sim.call(events=["answered", "completed"])

    sim.wait_ended(sid)

    callbacks = app.wait_for("/twilio/status", count=4)
    assert [(c.params["CallStatus"], c.params["SequenceNumber"]) for c in callbacks] == [
        ("in-progress", "0"),
        ("in-progress", "0"),
        ("completed", "1"),
        ("completed", "1"),
    ]


def test_callbacks_can_arrive_out_of_order(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Pause length="600"/>'))
    sim.faults(status_callbacks={"out_of_order": True})
    sid = sim.call(events=ALL_EVENTS)
    sim.wait_event(sid, "pause")
    sim.hang_up(sid)

    callbacks = app.wait_for("/twilio/status", count=4)

    # Held back until the call ends, then sent after the final one.
    assert [c.params["CallStatus"] for c in callbacks] == [
        "completed",
        "initiated",
        "ringing",
        "in-progress",
    ]
    assert [c.params["SequenceNumber"] for c in callbacks] == ["3", "0", "1", "2"]


def test_a_callback_fault_can_target_one_call(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Pause length="600"/>'))
    doubled = sim.call()
    sim.faults(status_callbacks={"duplicate": True, "call_sid": doubled})
    single = sim.call()
    sim.wait_event(single, "pause")
    sim.hang_up(single)
    app.wait_for("/twilio/status")
    sim.wait_event(doubled, "pause")
    sim.hang_up(doubled)

    callbacks = app.wait_for("/twilio/status", count=3)

    # Each leg's callbacks go out in order, copies back to back: a doubled `single` would
    # have been delivered before `doubled` was even hung up.
    assert [c.params["CallSid"] for c in callbacks] == [single, doubled, doubled]


def test_a_failing_status_callback_is_recorded_as_an_error(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml("<Hangup/>"))
    app.on("/twilio/status", lambda request: Response(status_code=502))
    sid = sim.call()

    sim.wait_event(sid, "error")

    [error] = sim.events(sid, "error")
    assert (error["code"], error["kind"]) == (11200, "status")
