"""A warm transfer's room recorded through the simulated network, every process running: a
caller sent on warm to the dispatch line or to a clinician, the room recorded (one mixed channel)
from the moment it starts until the caller leaves it, and the recording kept with the caller's
case and the handler who sent them on, its audio fetchable as Twilio holds it."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from routing import keys
from routing.transfers import room_of
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, DISPATCH
from tests.e2e.stack import Stack
from tests.e2e.test_onward import joined, legs, on_a_call, send_on, use_rules
from tests.e2e.test_recording_through_the_network import case_of, in_a_job, kept, media
from workers.recordings import SETTLING_SECONDS, find_untold_in


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, with_clinical=True).start()
    try:
        yield running
    finally:
        running.stop()


def warm_room(stack: Stack, to: str) -> tuple[str, str]:
    """h1's caller sent on warm (`to` the dispatch line or a clinician), the one who takes them
    in the room, and h1 gone: the caller's CallSid and who took them."""
    if to == "dispatch":
        use_rules(stack, lambda rules: rules["onward"].update(dispatch_warm=True))
        stack.sim.party(DISPATCH, answer="answer", ring_seconds=2, talk_seconds=600)
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)
    # To the dispatch line, the rules make it warm; to a clinician, the handler asks.
    warm: dict[str, Any] = {"urgency": "immediate", "warm": True} if to == "clinician" else {}
    assert send_on(stack, "h1", to=to, **warm).status_code == 202
    stack.wait_for(lambda: joined(stack, sid, "caller", "handler"), "the handler and the caller")
    taker = "dispatcher" if to == "dispatch" else "clinician"
    if to == "clinician":
        stack.sim.party("client:c1", answer="answer", ring_seconds=1, talk_seconds=600)
        stack.handler("c1", {"clinician": 3})
    stack.wait_for(lambda: joined(stack, sid, "caller", "handler", taker), f"the {taker}")
    stack.sim.hang_up(handler_leg)  # the handler has introduced the case
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    return sid, taker


def forget(stack: Stack, recording_sid: str) -> None:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        client.delete(keys.recording(recording_sid))
        client.zrem(keys.RECORDINGS, recording_sid)
    finally:
        client.close()


def room_recordings(stack: Stack) -> list[dict[str, Any]]:
    return [recording for recording in kept(stack) if recording["kind"] == "room"]


def at_twilio(stack: Stack, sid: str) -> dict[str, Any]:
    url = f"{stack.phone_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.json"
    found: dict[str, Any] = httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10).json()
    return found


@pytest.mark.parametrize("to", ["dispatch", "clinician"])
def test_a_warm_transfers_room_is_recorded_and_kept_with_the_callers_case(
    stack: Stack, to: str
) -> None:
    sid, taker = warm_room(stack, to)
    room = stack.sim.conference(room_of(sid))
    assert [e["status"] for e in room["events"] if e["type"] == "recording"] == ["in-progress"]

    stack.sim.hang_up(sid)  # the caller is done: the room ends with them
    stack.wait_for(lambda: bool(room_recordings(stack)), "the room's recording to be kept")

    [recording] = room_recordings(stack)
    assert {
        key: recording[key]
        for key in ("call_sid", "case_id", "digits", "handler", "channels", "status")
    } == {
        "call_sid": sid,
        "case_id": case_of(stack, sid),
        "digits": CALLER[-3:],
        "handler": "h1",
        "channels": 1,
        "status": "completed",
    }
    resource = at_twilio(stack, recording["sid"])
    assert (resource["conference_sid"], resource["call_sid"]) == (room["sid"], None)
    assert resource["duration"] == str(recording["duration"])
    audio = media(stack, recording["sid"])
    assert audio.status_code == 200
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnchannels() == 1  # everyone in the room, mixed
    # The conversation with h1 before the room is recorded as ever, on its own.
    assert [r["kind"] for r in kept(stack) if r["kind"] != "room"] == ["call"]
    assert not stack.sim.events(sid, "error")
    assert stack.sim.conference(room_of(sid))["status"] == "completed"
    assert taker in {e.get("label") for e in room["events"] if e["type"] == "join"}


def test_a_rooms_recording_never_told_of_is_found_by_its_conference_and_kept_with_its_case(
    stack: Stack,
) -> None:
    sid, _ = warm_room(stack, "dispatch")
    stack.sim.hang_up(sid)
    stack.wait_for(lambda: bool(room_recordings(stack)), "the room's recording to be kept")
    [told] = room_recordings(stack)
    forget(stack, told["sid"])  # as if its callback had come while Redis was away

    # In Twilio's list it names no call, but its conference is named by the caller.
    assert in_a_job(stack, SETTLING_SECONDS + 60, find_untold_in) == 1
    [found] = room_recordings(stack)
    assert {key: found[key] for key in ("sid", "call_sid", "case_id", "handler")} == {
        "sid": told["sid"],
        "call_sid": sid,
        "case_id": case_of(stack, sid),
        "handler": "h1",
    }
    assert in_a_job(stack, SETTLING_SECONDS + 60, find_untold_in) == 0
