"""A priority-1 caller through the simulated network with every process running: put through to
the dispatch line at once when nobody who could take the call is free, offered first to a handler
who is, never left in silence, and in their own language.

Times in the network's events are simulated seconds (`SIM_TIME_SCALE`); Lifeline runs on the
real clock, so its limits below are real seconds."""

from __future__ import annotations

from typing import Any

from routing.rules import default_rules
from tests.conftest import DISPATCH, WELSH_LINE
from tests.e2e.stack import TIME_SCALE, Stack

REASSURE_SECONDS = 10  # the packaged rules' interval


def rules_with(stack: Stack, **emergency: int) -> None:
    rules = default_rules().model_dump(mode="json")
    rules["emergency"].update(emergency)
    version = stack.api.post("/api/v1/rules/versions", json={"rules": rules})
    assert version.status_code == 201, version.text
    number = version.json()["number"]
    activated = stack.api.post(f"/api/v1/rules/versions/{number}/activate", json={})
    assert activated.status_code == 200, activated.text


def at(events: list[dict[str, Any]], type_: str, **match: object) -> float:
    """The simulated time of the first event of a kind (and fields)."""
    for event in events:
        if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
            return float(event["t"])
    raise AssertionError(f"no {type_} {match} in {[e['type'] for e in events]}")


def longest_silence(events: list[dict[str, Any]], until: float) -> float:
    """The longest the caller heard nothing before `until`: pauses one after another with no
    words between them add up (simulated seconds)."""
    longest = silent = 0.0
    for event in events:
        if event["t"] >= until:
            break
        if event["type"] == "say":
            silent = 0.0
        elif event["type"] == "pause":
            silent += float(event["seconds"])
            longest = max(longest, silent)
    return longest


def test_with_every_handler_on_a_call_an_emergency_reaches_dispatch_within_5_s(
    stack: Stack,
) -> None:
    """The review's transcript: six callers take both handlers and wait; then someone presses 1."""
    for handler in ("h1", "h2"):
        stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=1, talk_seconds=3600)
        stack.handler(handler)
    for n in range(6):
        stack.sim.call(["2", "1"], caller=f"+4477009000{n:02d}")
    stack.wait_for(
        lambda: [stack.handler_now(h)["state"] for h in ("h1", "h2")] == ["busy", "busy"],
        "both handlers on a call",
    )

    sid = stack.sim.call(["1"], caller="+447700900099")
    [dial] = stack.sim.wait_event(sid, "dial")

    assert dial["targets"] == [DISPATCH]
    events = stack.sim.events(sid)
    pressed = at(events, "input", digits="1")
    # No pause or speech comes between (speech takes no time here): what passes is real time,
    # counted in simulated seconds, so back to real seconds by the scale.
    assert (dial["t"] - pressed) * TIME_SCALE <= 5
    assert longest_silence(events, dial["t"]) <= REASSURE_SECONDS
    said = [event["text"] for event in events if event["type"] == "say"]
    assert "We are connecting you to the ambulance service now. Please stay on the line." in said


def test_a_free_handler_is_offered_an_emergency_first_and_dispatch_follows_if_it_rings_out(
    stack: Stack,
) -> None:
    rules_with(stack, handler_limit_seconds=5)
    stack.sim.party("client:h1", answer="no-answer")
    stack.handler("h1")

    sid = stack.sim.call(["1"])
    stack.sim.wait_event(sid, "dial", count=2)

    first, second = stack.sim.events(sid, "dial")
    assert (first["targets"], second["targets"]) == (["client:h1"], [DISPATCH])
    assert stack.handler_now("h1")["state"] == "break"  # the missed offer counts


def test_an_emergency_waits_for_a_handler_finishing_a_wrap_up_when_the_rules_say_so(
    stack: Stack,
) -> None:
    rules_with(stack, handler_limit_seconds=30, wait_for_wrap_up_seconds=30)
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=1)
    stack.handler("h1")
    first = stack.sim.call(["2", "1"])
    stack.sim.wait_ended(first)
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)

    sid = stack.sim.call(["1"], caller="+447700900001")
    stack.sim.wait_event(sid, "pause")  # waiting, reassured
    stack.state("h1", "available")  # the wrap-up is done
    [dial] = stack.sim.wait_event(sid, "dial")

    assert dial["targets"] == ["client:h1"]
    said = [event["text"] for event in stack.sim.events(sid, "say")]
    assert "Please stay on the line. We are connecting you now." in said


def test_a_welsh_emergency_waiting_hears_welsh_then_reaches_dispatch_at_the_wrap_up_limit(
    stack: Stack,
) -> None:
    rules_with(stack, handler_limit_seconds=5, wait_for_wrap_up_seconds=5)
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=1)
    stack.handler("h1")
    first = stack.sim.call(["2", "1"])
    stack.sim.wait_ended(first)
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")

    sid = stack.sim.call(["1", "1"], caller="+447700900002", line=WELSH_LINE)
    [dial] = stack.sim.wait_event(sid, "dial")

    assert dial["targets"] == [DISPATCH]
    said = [event["text"] for event in stack.sim.events(sid, "say")]
    assert "Arhoswch ar y lein, os gwelwch yn dda. Rydym yn eich cysylltu nawr." in said
    assert "Rydym yn eich cysylltu â'r gwasanaeth ambiwlans nawr. Arhoswch ar y lein." in said
    assert not any("Please stay on the line" in text for text in said)
    events = stack.sim.events(sid)
    assert longest_silence(events, float(dial["t"])) <= REASSURE_SECONDS


def test_an_emergency_whose_handler_is_never_rung_hears_words_every_few_seconds_then_dispatch(
    stack: Stack,
) -> None:
    """Offered to a free handler, but the connect job's redirect fails (the network refuses
    Lifeline's REST requests): the caller is not left in silence, nor left to the limit."""
    rules_with(stack, handler_limit_seconds=60)
    stack.handler("h1")
    stack.sim.faults(rest={"status": 500, "count": 1000})
    sid = stack.sim.call(["1"])
    [dial] = stack.sim.wait_event(sid, "dial")

    assert dial["targets"] == [DISPATCH]
    events = stack.sim.events(sid)
    assert longest_silence(events, dial["t"]) <= REASSURE_SECONDS
    said = [event["text"] for event in events if event["type"] == "say"]
    assert "Please stay on the line. We are connecting you now." in said
