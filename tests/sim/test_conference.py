"""`<Dial><Conference>`: joining, starting, leaving and ending rooms, what their status callback
hears, and what the control API shows of them."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from starlette.responses import Response
from twilio.rest import Client

from tests.sim.servers import AppUnderTest, Received, SimClient, twiml

ROOM = "transfer-CA1"
CALLER = "+447700900123"
HANDLER = "+447700900777"
ROOM_EVENTS = ("join", "leave", "start", "end")


def room(label: str, attributes: str = "", action: str | None = None) -> str:
    dial = f' action="{action}"' if action else ""
    return (
        f'<Dial{dial}><Conference participantLabel="{label}" beep="false" '
        'statusCallback="/conference-events" statusCallbackEvent="start end join leave" '
        f"{attributes}>{ROOM}</Conference></Dial>"
    )


def serve_room(app: AppUnderTest, **by_caller: str) -> None:
    """Each caller (by label) joins the room with its own attributes."""
    numbers = {CALLER: "caller", HANDLER: "handler"}

    def voice(request: Received) -> str:
        label = numbers[request.params["From"]]
        return twiml(by_caller.get(label, room(label)))

    app.on("/twilio/voice", voice)
    app.on("/conference-events", lambda request: Response(status_code=204))


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] in types]


def in_the_room(app: AppUnderTest, sim: SimClient) -> str:
    """A caller whose call joins the room: their CallSid, once they are in it."""
    serve_room(app)
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")
    return caller


def test_two_callers_start_a_room_and_its_status_callback_hears_each_join_and_leave(
    app: AppUnderTest, sim: SimClient
) -> None:
    caller = in_the_room(app, sim)
    waiting = sim.conference(ROOM)
    assert waiting["status"] == "init"
    assert [p["label"] for p in waiting["participants"]] == ["caller"]

    handler = sim.call(caller=HANDLER)
    sim.wait_event(handler, "conference_join")
    started = sim.conference(ROOM)
    sim.hang_up(handler)
    sim.wait_ended(handler)
    after_handler = sim.conference(ROOM)
    sim.hang_up(caller)
    sim.wait_ended(caller)

    assert started["status"] == "in-progress"
    assert [(p["call_sid"], p["status"]) for p in started["participants"]] == [
        (caller, "connected"),
        (handler, "connected"),
    ]
    assert after_handler["status"] == "in-progress"
    assert [p["label"] for p in after_handler["participants"]] == ["caller"]
    ended = sim.conference(ROOM)
    assert ended["status"] == "completed"
    assert ended["participants"] == []
    assert (ended["reason_conference_ended"], ended["call_sid_ending_conference"]) == (
        "last-participant-left",
        caller,
    )
    assert [(e["type"], e.get("call_sid")) for e in of_type(ended["events"], *ROOM_EVENTS)] == [
        ("join", caller),
        ("join", handler),
        ("start", None),
        ("leave", handler),
        ("leave", caller),
        ("end", caller),
    ]
    callbacks = [r.params for r in app.wait_for("/conference-events", 6)]
    assert [(c["StatusCallbackEvent"], c.get("CallSid")) for c in callbacks] == [
        ("participant-join", caller),
        ("participant-join", handler),
        ("conference-start", None),
        ("participant-leave", handler),
        ("participant-leave", caller),
        ("conference-end", None),
    ]
    assert {c["ConferenceSid"] for c in callbacks} == {ended["sid"]}
    assert ended["sid"].startswith("CF")
    assert {c["FriendlyName"] for c in callbacks} == {ROOM}
    assert [c["SequenceNumber"] for c in callbacks] == ["0", "1", "2", "3", "4", "5"]
    assert all(parsedate_to_datetime(c["Timestamp"]) for c in callbacks)
    join = callbacks[0]
    assert (join["ParticipantLabel"], join["Muted"], join["Hold"]) == ("caller", "false", "false")
    assert (join["StartConferenceOnEnter"], join["EndConferenceOnExit"]) == ("true", "false")
    assert callbacks[3]["ParticipantCallStatus"] == "completed"
    assert callbacks[5]["ReasonConferenceEnded"] == "last-participant-left"
    assert callbacks[5]["CallSidEndingConference"] == caller
    caller_events = sim.events(caller, "conference_join", "conference_leave")
    assert [(e["type"], e["conference_sid"]) for e in caller_events] == [
        ("conference_join", ended["sid"]),
        ("conference_leave", ended["sid"]),
    ]
    assert caller_events[1]["reason"] == "hangup"


def test_a_participant_with_end_conference_on_exit_ends_it_and_the_others_go_on_to_the_action(
    app: AppUnderTest, sim: SimClient
) -> None:
    serve_room(
        app,
        caller=room("caller", 'startConferenceOnEnter="false"', action="/after-room"),
        handler=room("handler", 'endConferenceOnExit="true"'),
    )
    app.on("/after-room", twiml("<Say>You are back with the line.</Say>"))
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")
    handler = sim.call(caller=HANDLER)
    sim.wait_event(handler, "conference_join")

    sim.hang_up(handler)

    record = sim.wait_ended(caller)
    after = app.wait_for("/after-room")[0].params
    assert (after["CallSid"], after["CallStatus"]) == (caller, "in-progress")
    assert after["DialCallStatus"] == "answered"
    says = [event["text"] for event in of_type(record["events"], "say")]
    assert says == ["You are back with the line."]
    [left] = of_type(record["events"], "conference_leave")
    assert left["reason"] == "conference-ended"
    ended = sim.conference(ROOM)
    assert ended["reason_conference_ended"] == "participant-with-end-conference-on-exit-left"
    assert ended["call_sid_ending_conference"] == handler
    callbacks = [r.params for r in app.wait_for("/conference-events", 6)]
    assert callbacks[-1]["StatusCallbackEvent"] == "conference-end"
    assert callbacks[-1]["ParticipantLabelEndingConference"] == "handler"


@pytest.mark.parametrize(
    ("attributes", "heard"),
    [
        ("", ["http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"]),
        ('waitUrl=""', []),
        ('waitUrl="/wait-music"', ["http://127.0.0.1/wait-music"]),
    ],
)
def test_waiting_alone_in_a_room_plays_hold_music_unless_the_wait_url_is_empty(
    app: AppUnderTest, sim: SimClient, attributes: str, heard: list[str]
) -> None:
    serve_room(app, caller=room("caller", attributes))
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")

    sim.hang_up(caller)

    record = sim.wait_ended(caller)
    played = [event["url"] for event in of_type(record["events"], "play")]
    assert [url.replace(app.base_url, "http://127.0.0.1") for url in played] == heard
    assert app.to("/wait-music") == []  # accepted, never fetched


def test_a_rest_redirect_takes_a_leg_out_of_the_room_without_its_dial_action(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    serve_room(app, caller=room("caller", action="/after-room"))
    app.on("/after-room", twiml("<Say>Ignored.</Say>"))
    app.on("/elsewhere", twiml("<Say>Somewhere else now.</Say>"))
    caller = sim.call(caller=CALLER)
    sim.wait_event(caller, "conference_join")
    handler = sim.call(caller=HANDLER)
    sim.wait_event(handler, "conference_join")

    rest.calls(caller).update(url=app.url("/elsewhere"))

    record = sim.wait_ended(caller)
    assert app.to("/after-room") == []
    assert [event["text"] for event in of_type(record["events"], "say")] == ["Somewhere else now."]
    [left] = of_type(record["events"], "conference_leave")
    assert left["reason"] == "redirected"
    still = sim.conference(ROOM)
    assert still["status"] == "in-progress"
    assert [p["call_sid"] for p in still["participants"]] == [handler]
    assert rest.conferences(still["sid"]).participants.list()[0].call_sid == handler
    sim.hang_up(handler)
    sim.wait_ended(handler)
    leave = [r.params for r in app.wait_for("/conference-events", 6)][3]
    assert (leave["StatusCallbackEvent"], leave["CallSid"]) == ("participant-leave", caller)
    assert leave["ParticipantCallStatus"] == "in-progress"


def test_the_control_api_shows_one_conference_by_sid_and_forgets_them_all_on_reset(
    app: AppUnderTest, sim: SimClient
) -> None:
    caller = in_the_room(app, sim)
    sid = sim.conference(ROOM)["sid"]

    one = sim.http.get(f"/sim/conferences/{sid}")
    unknown = sim.http.get(f"/sim/conferences/CF{'0' * 32}")
    sim.reset()

    assert one.status_code == 200
    view = one.json()
    assert (view["sid"], view["friendly_name"], view["status"]) == (sid, ROOM, "init")
    assert view["created_at"].endswith("+00:00")
    [participant] = view["participants"]
    assert participant["call_sid"] == caller
    assert participant["in_conference_for"] >= 0
    assert unknown.status_code == 404
    assert sim.conferences() == []
