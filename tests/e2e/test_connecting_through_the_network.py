"""Calls through the simulated network to handlers: connect, no answer, busy, a lost console."""

from __future__ import annotations

from tests.e2e.stack import Stack


def test_a_queued_caller_is_put_through_to_a_free_handler(stack: Stack) -> None:
    stack.handler("h1")
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=20)
    sid = stack.sim.call(["2", "1"])

    stack.sim.wait_event(sid, "bridged")
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "busy", "h1 to be busy")
    said = [event["text"] for event in stack.sim.events(sid, "say")]
    assert "We are putting you through to a call handler now." in said
    [dial] = stack.sim.events(sid, "dial")
    assert dial["targets"] == ["client:h1"]
    whisper = stack.sim.record(sid)["children"][0]
    heard = [
        event["text"] for event in stack.sim.record(whisper)["events"] if event["type"] == "say"
    ]
    assert heard == ["Lifeline call, priority 3.", "Reason: a medical problem."]

    stack.sim.wait_ended(sid)
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    assert not stack.sim.events(sid, "error")


def test_a_handler_who_does_not_answer_rests_and_the_caller_goes_to_the_next(stack: Stack) -> None:
    stack.handler("h1")
    stack.sim.party("client:h1", answer="no-answer")
    stack.sim.party("client:h2", answer="answer", ring_seconds=1, talk_seconds=20)
    sid = stack.sim.call(["2", "1"])

    stack.sim.wait_event(sid, "dial_ended")
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "break", "h1 to go on a break")
    assert stack.handler_now("h1")["reason"] == "missed"
    said = [event["text"] for event in stack.sim.events(sid, "say")]
    assert any("You keep your place in the queue." in text for text in said)

    stack.handler("h2")
    stack.sim.wait_event(sid, "bridged")
    bridged = stack.sim.events(sid, "bridged")[-1]
    assert bridged["to"] == "client:h2"


def test_a_busy_handler_phone_puts_the_caller_back_in_their_place(stack: Stack) -> None:
    stack.handler("h1")
    stack.sim.party("client:h1", answer="busy")
    sid = stack.sim.call(["2", "1"])
    [ended] = stack.sim.wait_event(sid, "dial_ended")
    assert ended["status"] == "busy"
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "break", "h1 to rest")
    queues = stack.api.get("/api/v1/queues").json()
    general = next(q for q in queues["queues"] if q["queue"] == "general")
    assert general["waiting"] == 1
    assert stack.sim.record(sid)["ended"] is False


def test_an_emergency_goes_straight_to_dispatch_when_nobody_is_on_duty(stack: Stack) -> None:
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    sid = stack.sim.call(["1"])
    [dial] = stack.sim.wait_event(sid, "dial")
    assert dial["targets"] == ["+441632960999"]
    stack.sim.wait_event(sid, "bridged")
    assert not stack.sim.events(sid, "error")
