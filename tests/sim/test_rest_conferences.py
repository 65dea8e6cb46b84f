"""Conferences and their Participants through the REST API, driven by the real twilio library:
a warm transfer, hold and mute, kicks, calls that never join, and ending a room."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import Response
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.sim.servers import ACCOUNT_SID, AUTH_TOKEN, AppUnderTest, SimClient, twiml

ROOM = "transfer-CA1"
LINE = "+441134960000"
HANDLER = "client:handler-7"
CLINICIAN = "+441632960123"
EVENTS = "start end join leave mute hold"


def caller_room(attributes: str = "", action: str = "/after-room") -> str:
    return twiml(
        f'<Dial action="{action}"><Conference participantLabel="caller" '
        f'statusCallback="/conference-events" statusCallbackEvent="{EVENTS}" {attributes}>'
        f"{ROOM}</Conference></Dial>"
    )


def serve(app: AppUnderTest, voice: str) -> None:
    app.on("/twilio/voice", voice)
    app.on("/conference-events", lambda request: Response(status_code=204))
    app.on("/after-room", twiml("<Say>You are back with the line.</Say>"))


def callback_events(app: AppUnderTest, count: int) -> list[tuple[str, str | None]]:
    return [
        (r.params["StatusCallbackEvent"], r.params.get("ParticipantLabel"))
        for r in app.wait_for("/conference-events", count)
    ]


def in_the_room(app: AppUnderTest, sim: SimClient) -> str:
    """A caller whose call joins the room: their CallSid, once they are in it."""
    serve(app, caller_room())
    caller = sim.call()
    sim.wait_event(caller, "conference_join")
    return caller


def test_a_warm_transfer_from_a_handler_to_a_clinician(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(HANDLER, talk_seconds=600)
    sim.party(CLINICIAN, ring_seconds=2, talk_seconds=600)
    serve(app, twiml('<Dial action="/dial-done"><Client>handler-7</Client></Dial>'))
    app.on("/dial-done", caller_room('startConferenceOnEnter="false" endConferenceOnExit="true"'))
    app.on(
        "/handler-room",
        twiml(
            '<Dial><Conference participantLabel="handler" statusCallback="/conference-events" '
            f'statusCallbackEvent="{EVENTS}">{ROOM}</Conference></Dial>'
        ),
    )
    caller = sim.call()
    sim.wait_event(caller, "bridged")
    [handler] = sim.record(caller)["children"]

    # The handler's leg is moved into a room; the caller's Dial ends and its action follows.
    rest.calls(handler).update(url=app.url("/handler-room"))
    sim.wait_event(caller, "conference_join")
    sim.wait_event(handler, "conference_join")
    added = rest.conferences(ROOM).participants.create(
        from_=LINE,
        to=CLINICIAN,
        label="clinician",
        status_callback=app.url("/clinician-status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        timeout=20,
    )
    clinician = added.call_sid
    sim.wait_event(clinician, "conference_join")
    conference = rest.conferences.list(friendly_name=ROOM)[0]
    everyone = rest.conferences(conference.sid).participants.list()
    rest.conferences(conference.sid).participants("handler").delete()
    handler_record = sim.wait_ended(handler)
    sim.hang_up(caller)
    clinician_record = sim.wait_ended(clinician)

    done = app.to("/dial-done")[0].params
    assert (done["DialCallStatus"], done["DialBridged"], done["DialCallSid"]) == (
        "completed",
        "true",
        handler,
    )
    assert (added.status, added.label, added.conference_sid) == (
        "queued",
        "clinician",
        conference.sid,
    )
    assert conference.sid.startswith("CF")
    assert {(p.label, p.call_sid, p.status) for p in everyone} == {
        ("caller", caller, "connected"),
        ("handler", handler, "connected"),
        ("clinician", clinician, "connected"),
    }
    assert [e["reason"] for e in handler_record["events"] if e["type"] == "conference_leave"] == [
        "kicked"
    ]
    assert handler_record["status"] == "completed"
    assert [e["reason"] for e in clinician_record["events"] if e["type"] == "conference_leave"] == [
        "conference-ended"
    ]
    clinician_call = sim.http.get(f"/sim/calls/{clinician}").json()
    assert (clinician_call["to"], clinician_call["direction"]) == (CLINICIAN, "outbound-api")
    statuses = [r.params["CallStatus"] for r in app.wait_for("/clinician-status", 4)]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    ended = rest.conferences(conference.sid).fetch()
    assert ended.status == "completed"
    assert ended.reason_conference_ended == "participant-with-end-conference-on-exit-left"
    assert ended.call_sid_ending_conference == caller
    heard = callback_events(app, 8)
    assert sorted(heard[:2]) == [("participant-join", "caller"), ("participant-join", "handler")]
    assert heard[2:] == [
        ("conference-start", None),
        ("participant-join", "clinician"),
        ("participant-leave", "handler"),
        ("participant-leave", "caller"),
        ("participant-leave", "clinician"),
        ("conference-end", None),
    ]


def test_hold_and_mute_through_the_participants_api(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    caller = in_the_room(app, sim)
    conference_sid = sim.conference(ROOM)["sid"]
    participants = rest.conferences(conference_sid).participants

    held = participants(caller).update(hold=True, hold_url=app.url("/hold-music"))
    muted = participants("caller").update(muted=True)
    back = participants(caller).update(hold=False, end_conference_on_exit=True)
    muted_list = participants.list(muted=True)
    held_list = participants.list(hold=True)
    sim.hang_up(caller)
    sim.wait_ended(caller)

    assert (held.hold, held.muted) == (True, False)
    assert (muted.hold, muted.muted) == (True, True)
    assert (back.hold, back.muted, back.end_conference_on_exit) == (False, True, True)
    assert [p.call_sid for p in muted_list] == [caller]
    assert held_list == []
    assert [e[0] for e in callback_events(app, 6)] == [
        "participant-join",
        "participant-hold",
        "participant-mute",
        "participant-unhold",
        "participant-leave",
        "conference-end",
    ]
    updates = sim.events(caller, "conference_update")
    assert [{k: v for k, v in e.items() if k in {"hold", "muted"}} for e in updates] == [
        {"hold": True},
        {"muted": True},
        {"hold": False},
    ]
    assert updates[2]["end_conference_on_exit"] is True
    assert app.to("/hold-music") == []


@pytest.mark.parametrize("answer", ["busy", "no-answer", "failed"])
def test_a_participant_whose_call_is_not_answered_leaves_without_joining(
    app: AppUnderTest, sim: SimClient, rest: Client, answer: str
) -> None:
    sim.party(CLINICIAN, answer=answer, ring_seconds=1)
    caller = in_the_room(app, sim)

    added = rest.conferences(ROOM).participants.create(from_=LINE, to=CLINICIAN, timeout=5)

    record = sim.wait_ended(added.call_sid)
    assert record["status"] == answer
    leave = app.wait_for("/conference-events", 2)[1].params
    assert (leave["StatusCallbackEvent"], leave["CallSid"]) == ("participant-leave", added.call_sid)
    assert leave["ParticipantCallStatus"] == answer
    room = sim.conference(ROOM)
    assert room["status"] == "init"
    assert [p["call_sid"] for p in room["participants"]] == [caller]
    assert [e["reason"] for e in room["events"] if e["type"] == "leave"] == ["not-answered"]
    assert [p.call_sid for p in rest.conferences(room["sid"]).participants.list()] == [caller]
    sim.hang_up(caller)


def test_ending_a_conference_sends_each_caller_on_and_hangs_up_api_participants(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(CLINICIAN, talk_seconds=600)
    serve(app, twiml(f"<Dial><Conference>{ROOM}</Conference></Dial><Say>After the room.</Say>"))
    caller = sim.call()
    sim.wait_event(caller, "conference_join")
    added = rest.conferences(ROOM).participants.create(from_=LINE, to=CLINICIAN)
    sim.wait_event(added.call_sid, "conference_join")
    [live] = rest.conferences.list(friendly_name=ROOM, status="in-progress")

    ended = rest.conferences(live.sid).update(status="completed")

    record = sim.wait_ended(caller)
    assert [e["text"] for e in record["events"] if e["type"] == "say"] == ["After the room."]
    clinician = sim.wait_ended(added.call_sid)
    assert [e["by"] for e in clinician["events"] if e["type"] == "hangup"] == ["app"]
    assert ended.status == "completed"
    assert ended.reason_conference_ended == "conference-ended-via-api"
    assert ended.call_sid_ending_conference is None
    assert rest.conferences.list(status="in-progress") == []
    assert [c.sid for c in rest.conferences.list(friendly_name=ROOM, status="completed")] == [
        live.sid
    ]
    assert rest.conferences(live.sid).participants.list() == []
    with pytest.raises(TwilioRestException) as raised:
        rest.conferences(live.sid).participants.create(from_=LINE, to=CLINICIAN)
    assert raised.value.status == 400


def test_a_party_in_a_room_hangs_up_after_its_talk_seconds(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(CLINICIAN, talk_seconds=3)
    caller = in_the_room(app, sim)

    added = rest.conferences(ROOM).participants.create(from_=LINE, to=CLINICIAN)

    record = sim.wait_ended(added.call_sid)
    joined, left = (e for e in record["events"] if e["type"].startswith("conference_"))
    assert (left["reason"], left["t"] - joined["t"] >= 3) == ("hangup", True)
    assert [e["by"] for e in record["events"] if e["type"] == "hangup"] == ["callee"]
    assert sim.conference(ROOM)["status"] == "in-progress"
    sim.hang_up(caller)


def test_unknown_conferences_and_participants_and_bad_parameters_are_refused(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    caller = in_the_room(app, sim)
    conference_sid = sim.conference(ROOM)["sid"]
    base = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Conferences"
    auth = (ACCOUNT_SID, AUTH_TOKEN)

    unknown = httpx.get(f"{base}/CF{'0' * 32}.json", auth=auth)
    nobody = httpx.get(f"{base}/{conference_sid}/Participants/nobody.json", auth=auth)
    no_to = httpx.post(f"{base}/{ROOM}/Participants.json", data={"From": LINE}, auth=auth)
    bad_flag = httpx.post(
        f"{base}/{conference_sid}/Participants/{caller}.json", data={"Muted": "yes"}, auth=auth
    )
    bad_status = httpx.post(f"{base}/{conference_sid}.json", data={"Status": "paused"}, auth=auth)
    by_date = httpx.get(f"{base}.json", params={"DateCreated": "2026-01-01"}, auth=auth)
    sim.hang_up(caller)

    assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)
    assert (nobody.status_code, nobody.json()["code"]) == (404, 20404)
    assert (no_to.status_code, no_to.json()["code"]) == (400, 21201)
    assert (bad_flag.status_code, bad_status.status_code, by_date.status_code) == (400, 400, 400)


def test_a_room_the_participants_api_creates_reports_to_its_conference_status_callback(
    app: AppUnderTest, sim: SimClient, rest: Client
) -> None:
    sim.party(CLINICIAN, answer="busy", ring_seconds=1)
    app.on("/conference-events", lambda request: Response(status_code=204))

    added = rest.conferences("new-room").participants.create(
        from_=LINE,
        to=CLINICIAN,
        label="clinician",
        conference_status_callback=app.url("/conference-events"),
        conference_status_callback_event=["join", "leave", "end"],
    )

    callbacks = [r.params for r in app.wait_for("/conference-events", 2)]
    assert added.conference_sid.startswith("CF")
    assert [c["StatusCallbackEvent"] for c in callbacks] == [
        "participant-leave",
        "conference-end",
    ]
    assert (callbacks[0]["ParticipantLabel"], callbacks[0]["ParticipantCallStatus"]) == (
        "clinician",
        "busy",
    )
    assert callbacks[1]["ReasonConferenceEnded"] == "last-participant-left"
    room = rest.conferences(added.conference_sid).fetch()
    assert (room.friendly_name, room.status) == ("new-room", "completed")
