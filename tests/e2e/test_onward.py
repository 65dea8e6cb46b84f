"""A handler sends their caller on, through the simulated network and real processes: to the
ambulance dispatch line (the dispatcher hears the case id; the ambulance request reaches the
clinical system, or its journal while it is down), and to a clinician's queue, where the caller
keeps the place their arrival gives them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from console.tokens import Role
from routing import keys
from routing.connecting import spoken_case_id
from routing.models import case_id_for
from routing.transfers import room_of
from tests.conftest import DISPATCH
from tests.e2e.stack import Stack


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, with_clinical=True).start()
    try:
        yield running
    finally:
        running.stop()


def as_handler(stack: Stack, handler_id: str) -> httpx.Client:
    token = stack.token(Role.HANDLER, handler_id)
    return httpx.Client(
        base_url=stack.console_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    )


def on_a_call(stack: Stack, handler_id: str, *, skills: dict[str, int] | None = None) -> str:
    """A caller put through to `handler_id` (who talks until sent away): the caller's CallSid."""
    stack.sim.party(f"client:{handler_id}", answer="answer", ring_seconds=1, talk_seconds=600)
    stack.handler(handler_id, skills)
    sid = stack.sim.call(["2", "1"])
    stack.sim.wait_event(sid, "bridged")
    stack.wait_for(lambda: stack.handler_now(handler_id)["state"] == "busy", f"{handler_id} busy")
    return sid


def said(stack: Stack, sid: str) -> list[str]:
    return [event["text"] for event in stack.sim.record(sid)["events"] if event["type"] == "say"]


def legs(stack: Stack, sid: str) -> list[str]:
    children: list[str] = stack.sim.record(sid)["children"]
    return children


def send_on(stack: Stack, handler_id: str, **body: Any) -> httpx.Response:
    with as_handler(stack, handler_id) as client:
        return client.post(f"/api/v1/handlers/{handler_id}/send-on", json=body)


def use_rules(stack: Stack, change: Callable[[dict[str, Any]], None]) -> None:
    """Activate the active rule set with `change` made to it, as a supervisor would."""
    rules = stack.api.get("/api/v1/rules").json()["rules"]
    change(rules)
    made = stack.api.post("/api/v1/rules/versions", json={"rules": rules})
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    activated = stack.api.post(f"/api/v1/rules/versions/{number}/activate", json={})
    assert activated.status_code == 200, activated.text


def in_the_room(stack: Stack, sid: str) -> dict[str, dict[str, Any]]:
    """Who is in the warm transfer's room of the call `sid` (joined, or ringing to), by label."""
    try:
        room = stack.sim.conference(room_of(sid))
    except AssertionError:
        return {}
    return {p["label"]: p for p in room["participants"]}


def joined(stack: Stack, sid: str, *labels: str) -> bool:
    room = in_the_room(stack, sid)
    return all(room.get(label, {}).get("status") == "connected" for label in labels)


def test_a_warm_transfer_to_dispatch_reads_the_case_id_and_the_handler_leaves_once_they_answer(
    stack: Stack,
) -> None:
    use_rules(stack, lambda rules: rules["onward"].update(dispatch_warm=True))
    stack.sim.party(DISPATCH, answer="answer", ring_seconds=2, talk_seconds=60)
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)

    sent = send_on(stack, "h1", to="dispatch", notes="Crushing chest pain since 10 minutes.")

    assert sent.status_code == 202, sent.text
    stack.wait_for(lambda: joined(stack, sid, "caller", "handler", "dispatcher"), "the room")
    assert stack.handler_now("h1")["state"] == "busy"  # on with the caller until they answer
    dispatcher = in_the_room(stack, sid)["dispatcher"]["call_sid"]
    case_id = case_id_for(sid)
    assert said(stack, dispatcher)[0] == (
        f"NHS 111 emergency transfer. Case {spoken_case_id(case_id)}. "
        "The caller is being put through now."
    )
    assert "You are in a call with the caller." in said(stack, handler_leg)[-1]

    stack.sim.hang_up(handler_leg)  # the dispatcher has them: the handler leaves

    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    assert joined(stack, sid, "caller", "dispatcher")
    stack.wait_for(
        lambda: any(r.get("case_id") == case_id for r in stack.received()), "the ambulance case"
    )
    [case] = [r for r in stack.received() if r.get("case_id") == case_id]
    bundle = json.dumps(case["bundle"])
    assert case["outcome"] == "created"
    assert "Ambulance request from the urgent-care line" in bundle
    assert "Crushing chest pain since 10 minutes." in bundle
    store = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    assert store.hget(keys.call(sid), "status") == "dispatched"
    store.close()
    assert not stack.sim.events(sid, "error")
    assert stack.sim.record(sid)["ended"] is False  # talking to the dispatcher


def test_with_the_clinical_system_down_a_cold_transfer_to_dispatch_still_reads_the_case_id(
    stack: Stack,
) -> None:
    changed = stack.api.put("/api/v1/mode", json={"mode": "degraded", "reason": "outage drill"})
    assert changed.status_code == 200, changed.text
    stack.sim.party(DISPATCH, answer="answer", ring_seconds=1, talk_seconds=30)
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)

    sent = send_on(stack, "h1", to="dispatch")

    assert sent.status_code == 202, sent.text
    stack.wait_for(lambda: len(legs(stack, sid)) == 2, "the dispatch line to ring")
    dispatcher = legs(stack, sid)[1]
    assert stack.sim.events(sid, "dial")[-1]["targets"] == [DISPATCH]
    stack.sim.wait_event(dispatcher, "say")
    assert any(spoken_case_id(case_id_for(sid)) in text for text in said(stack, dispatcher))
    stack.sim.wait_ended(handler_leg)  # the caller's leg moved: the handler's drops at once
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    case_id = case_id_for(sid)
    stack.wait_for(
        lambda: stack.api.get(f"/api/v1/journal/{case_id}").status_code == 200, "the journal"
    )
    entry = stack.api.get(f"/api/v1/journal/{case_id}").json()
    assert (entry["kind"], entry["status"]) == ("ambulance", "pending")
    assert stack.received() == []


def test_a_warm_transfer_to_a_clinician_who_answers(stack: Stack) -> None:
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)
    sent = send_on(stack, "h1", to="clinician", urgency="immediate", warm=True, notes="Rash.")
    assert sent.status_code == 202, sent.text
    stack.wait_for(lambda: joined(stack, sid, "caller", "handler"), "the handler and the caller")

    stack.sim.party("client:c1", answer="answer", ring_seconds=2, talk_seconds=600)
    stack.handler("c1", {"clinician": 3})

    stack.wait_for(lambda: joined(stack, sid, "caller", "handler", "clinician"), "the clinician")
    stack.wait_for(lambda: stack.handler_now("c1")["state"] == "busy", "c1 to be with them")
    assert stack.handler_now("c1")["call"] == sid
    assert stack.handler_now("h1")["state"] == "busy"  # still introducing the case
    stack.sim.hang_up(handler_leg)
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    assert joined(stack, sid, "caller", "clinician")
    assert stack.sim.record(sid)["ended"] is False
    day = stack.api.get("/api/v1/stats/clinician").json()["day"]
    assert (day["requested"], day["met"]) == (1, 1)


def test_a_warm_transfer_nobody_answers_keeps_the_caller_then_their_place_in_the_queue(
    stack: Stack,
) -> None:
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)
    assert send_on(stack, "h1", to="clinician", urgency="immediate", warm=True).status_code == 202
    stack.wait_for(lambda: joined(stack, sid, "caller", "handler"), "the handler and the caller")
    stack.sim.party("client:c1", answer="no-answer")
    stack.handler("c1", {"clinician": 3})

    stack.wait_for(lambda: stack.handler_now("c1")["state"] == "break", "c1's phone to ring out")
    assert joined(stack, sid, "caller", "handler")  # the handler is still with them
    stack.sim.hang_up(handler_leg)  # the handler cannot wait longer

    stack.wait_for(
        lambda: "You are still in the queue." in said(stack, sid)[-4:],
        "the caller to wait in the clinicians' queue",
    )
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    queues = stack.api.get("/api/v1/queues").json()["queues"]
    assert next(q for q in queues if q["queue"] == "clinician")["waiting"] == 1
    assert stack.sim.record(sid)["ended"] is False


def test_a_caller_sent_to_a_clinician_keeps_the_place_their_arrival_gives_them(
    stack: Stack,
) -> None:
    first = on_a_call(stack, "h1")
    second = on_a_call(stack, "h2")

    # The later caller is sent on first; both at the same urgency.
    assert send_on(stack, "h2", to="clinician", urgency="within_hour").status_code == 202
    stack.wait_for(lambda: stack.handler_now("h2")["state"] == "wrap_up", "h2 to wrap up")
    assert send_on(stack, "h1", to="clinician", urgency="within_hour").status_code == 202
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    queues = stack.api.get("/api/v1/queues").json()["queues"]
    assert next(q for q in queues if q["queue"] == "clinician")["waiting"] == 2
    assert any("A clinician will speak to you next." in text for text in said(stack, second))

    stack.sim.party("client:c1", answer="answer", ring_seconds=1, talk_seconds=600)
    stack.handler("c1", {"clinician": 3})

    stack.wait_for(lambda: stack.handler_now("c1")["state"] == "busy", "c1 to take a call")
    assert stack.handler_now("c1")["call"] == first
    assert stack.sim.record(first)["ended"] is False
    assert stack.sim.record(second)["ended"] is False  # still waiting, next in line

    stack.sim.hang_up(legs(stack, first)[-1])  # the clinician is done, and ends the call

    stack.sim.wait_ended(first)  # the call is over: not sent to the clinicians again
    stack.wait_for(lambda: stack.handler_now("c1")["state"] == "wrap_up", "c1 to wrap up")
    queues = stack.api.get("/api/v1/queues").json()["queues"]
    assert next(q for q in queues if q["queue"] == "clinician")["waiting"] == 1


def test_a_handler_cannot_send_on_a_caller_they_are_not_talking_to(stack: Stack) -> None:
    stack.handler("h2", available=False)
    sid = on_a_call(stack, "h1")

    idle = send_on(stack, "h2", to="dispatch")
    with as_handler(stack, "h2") as h2:
        not_theirs = h2.post("/api/v1/handlers/h1/send-on", json={"to": "dispatch"})
    unknown = send_on(stack, "h1", to="clinician", urgency="whenever")
    malformed = send_on(stack, "h1", to="the moon")

    assert (idle.status_code, idle.json()["error"]) == (
        409,
        "You are not on a call: there is nobody to send on.",
    )
    assert not_theirs.status_code == 403
    assert (unknown.status_code, unknown.json()["error"]) == (
        409,
        "Choose one of the urgencies: immediate, within_hour.",
    )
    assert malformed.status_code == 422
    assert stack.handler_now("h1")["state"] == "busy"  # nothing changed: still talking
    assert len(legs(stack, sid)) == 1


def test_a_handler_who_hangs_up_as_they_send_the_caller_on_warm_leaves_nobody_in_silence(
    stack: Stack,
) -> None:
    sid = on_a_call(stack, "h1")
    [handler_leg] = legs(stack, sid)

    sent = send_on(stack, "h1", to="clinician", urgency="immediate", warm=True)
    stack.sim.hang_up(handler_leg)  # before, or just after, their leg is moved into the room

    assert sent.status_code == 202, sent.text
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    stack.wait_for(
        lambda: (
            stack.sim.events(sid, "enqueue")[-1:] != []
            and stack.sim.events(sid, "enqueue")[-1]["queue"] == "clinician"
            and not joined(stack, sid, "caller")
        ),
        "the caller to wait in the clinicians' queue",
    )
    assert stack.sim.record(sid)["ended"] is False


def test_a_room_its_handler_left_unheard_is_found_by_the_sweep(
    redis_url: str, tmp_path: Path
) -> None:
    stack = Stack(redis_url, tmp_path, with_cron=True).start()
    try:
        sid = on_a_call(stack, "h1")
        [handler_leg] = legs(stack, sid)
        assert send_on(stack, "h1", to="clinician", urgency="immediate", warm=True).is_success
        stack.wait_for(lambda: joined(stack, sid, "caller", "handler"), "the room")
        web = stack.processes["web"]
        web.terminate()
        web.wait(timeout=10)

        # The handler leaves while nothing can hear it: their Dial's action and the room's
        # status callback are both lost.
        stack.sim.hang_up(handler_leg)
        stack.wait_for(lambda: "handler" not in in_the_room(stack, sid), "the handler to leave")
        command = cast(list[str], web.args)
        stack.spawn("web", *command)
        stack.wait_for(lambda: stack.up(f"{stack.web_url}/healthz"), "the web process again")

        stack.wait_for(
            lambda: "You are still in the queue." in said(stack, sid),
            "the sweep to move the caller on",
            timeout=60,
        )
        assert stack.handler_now("h1")["state"] == "wrap_up"
        assert stack.sim.record(sid)["ended"] is False
    finally:
        stack.stop()
