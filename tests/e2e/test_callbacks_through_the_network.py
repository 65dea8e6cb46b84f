"""Callbacks booked and made through the simulated network by real RQ workers: handler first then
patient, answering machines, a wait for a calling slot, a worker killed mid-job, and Redis
restarted with callbacks pending."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.job import Job

from lifeline.redis_server import RedisServer
from tests.conftest import CALLER
from tests.e2e.stack import BIN, LATEST_CALL_SECONDS, Stack
from workers import ratelimit
from workers.callback_calls import claim_key
from workers.dial_intents import CLOCK_SKEW_SECONDS
from workers.job_queues import SERIALIZER


def book(stack: Stack) -> str:
    """Nobody on duty, so the hold loop offers a callback; the caller takes it to their number."""
    sid = stack.sim.call(["2", "1", "1", "1"])
    stack.sim.wait_ended(sid)
    said = " ".join(event["text"] for event in stack.sim.events(sid, "say"))
    assert "We will call you back, and you keep your place in the queue." in said
    [row] = stack.api.get("/api/v1/callbacks?status=pending").json()
    return str(row["callback"]["id"])


def callback(stack: Stack, callback_id: str) -> dict[str, Any]:
    result: dict[str, Any] = stack.api.get(f"/api/v1/callbacks/{callback_id}").json()
    return result


def outbound_calls(stack: Stack) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = stack.sim.http.get("/sim/calls").json()["calls"]
    return [call for call in calls if call["direction"] == "outbound-api"]


def test_a_callback_rings_the_handler_then_the_patient_and_is_made(stack: Stack) -> None:
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)
    stack.sim.party(CALLER, answer="answer", ring_seconds=1, talk_seconds=20)
    callback_id = book(stack)

    stack.handler("h1")
    stack.wait_for(
        lambda: callback(stack, callback_id)["callback"]["status"] == "done", "the callback"
    )

    [placed] = outbound_calls(stack)
    assert placed["to"] == "client:h1"
    record = stack.sim.record(placed["sid"])
    heard = [event["text"] for event in record["events"] if event["type"] == "say"]
    assert heard[0].startswith("Callback for case ")
    [child] = record["children"]
    patient = stack.sim.record(child)
    assert patient["to"] == CALLER
    assert patient["answered_by"] == "human"
    greeting = [event["text"] for event in patient["events"] if event["type"] == "say"]
    assert greeting[0].startswith("Hello. This is NHS 111 calling you back")
    events = [entry["event"] for entry in callback(stack, callback_id)["history"]]
    assert events == ["booked", "connected", "done"]


def test_a_caller_who_has_a_callback_and_rings_again_is_offered_no_other(stack: Stack) -> None:
    callback_id = book(stack)
    # Not an emergency; nothing pressed at "we have a call back booked" (so they wait).
    sid = stack.sim.call(["2", "", "", ""])
    stack.wait_for(lambda: len(stack.sim.events(sid, "pause")) >= 3, "three turns on hold")
    stack.sim.hang_up(sid)
    stack.sim.wait_ended(sid)

    said = " ".join(event["text"] for event in stack.sim.events(sid, "say"))
    assert "We have a call back booked for you" in said
    assert "To have a call handler call you back" not in said  # nobody on duty, yet no offer
    assert [row["callback"]["id"] for row in stack.api.get("/api/v1/callbacks").json()] == [
        callback_id
    ]


@pytest.mark.parametrize("patient", ["machine", "no-answer", "busy"])
def test_a_patient_not_reached_means_a_retry_by_the_rules(stack: Stack, patient: str) -> None:
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)
    stack.sim.party(CALLER, answer=patient, ring_seconds=1)
    callback_id = book(stack)
    stack.handler("h1")
    stack.wait_for(
        lambda: callback(stack, callback_id)["callback"]["status"] == "scheduled", "a retry"
    )
    view = callback(stack, callback_id)
    state = view["callback"]
    assert state["attempts"] == 1
    assert state["not_before"] > state["created"] + 250  # 300 s later (priority 3)
    [missed] = [entry for entry in view["history"] if entry["event"] == "not reached"]
    assert missed["detail"] == {"attempt": 1, "outcome": patient}
    assert stack.handler_now("h1")["state"] in ("available", "reserved")


@pytest.fixture
def fast_stack(redis_url: str, tmp_path: Path) -> Any:
    """The stack with cron, and rules that give up on lost offers quickly."""
    running = Stack(redis_url, tmp_path, with_cron=True).start()
    try:
        rules = running.api.get("/api/v1/rules").json()["rules"]
        rules["offers"].update(offer_timeout_seconds=5, lost_after_seconds=5)
        version = running.api.post("/api/v1/rules/versions", json={"rules": rules}).json()
        activated = running.api.post(
            f"/api/v1/rules/versions/{version['number']}/activate", json={}
        )
        assert activated.status_code == 200
        yield running
    finally:
        running.stop()


def placing_runs(redis_url: str, callback_id: str) -> list[str]:
    """What each run of the callback's placing job said, first first."""
    connection = redis.Redis.from_url(redis_url)
    try:
        job = Job.fetch(f"connect-cb-{callback_id}-1", connection=connection, serializer=SERIALIZER)
        return [str(result.return_value) for result in reversed(job.results())]
    finally:
        connection.close()


def test_a_callback_waiting_for_its_calling_slot_holds_no_worker_and_goes_when_it_comes(
    fast_stack: Stack, redis_url: str
) -> None:
    stack = fast_stack
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)
    stack.sim.party(CALLER, answer="answer", ring_seconds=1, talk_seconds=5)
    callback_id = book(stack)
    direct = redis.Redis.from_url(redis_url, decode_responses=True)
    # Other callbacks took the calling slots of the next three seconds.
    direct.set(ratelimit.KEY, int((time.time() + 3) * ratelimit.MICROSECONDS), ex=120)

    stack.handler("h1")
    stack.wait_for(
        lambda: callback(stack, callback_id)["callback"]["status"] == "done", "the callback", 30
    )
    assert len(outbound_calls(stack)) == 1
    # Its first run ended at once; the agenda, read by the sweep, ran it again at its slot.
    assert placing_runs(redis_url, callback_id) == ["waiting for a calling slot", "placed"]
    direct.close()


def test_a_callback_whose_placing_went_wrong_rings_once_through_a_worker_killed(
    fast_stack: Stack, redis_url: str
) -> None:
    stack = fast_stack
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)
    stack.sim.party(CALLER, answer="answer", ring_seconds=1, talk_seconds=5)
    callback_id = book(stack)
    direct = redis.Redis.from_url(redis_url, decode_responses=True)
    # Twilio's answer to the call's creation is lost: what a worker killed while placing leaves
    # behind too, the call claimed and nobody knowing whether it was placed.
    stack.sim.faults(rest={"status": 500, "count": 1})

    stack.handler("h1")
    stack.wait_for(lambda: direct.exists(claim_key(callback_id, 1)) == 1, "the job to claim")
    stack.processes["worker"].send_signal(signal.SIGKILL)
    stack.processes["worker"].wait()
    assert outbound_calls(stack) == []

    stack.spawn("worker", str(BIN / "lifeline"), "worker")

    def on_duty_and_done() -> bool:  # h1's console stays open all the while
        stack.api.post("/api/v1/handlers/h1/heartbeat").raise_for_status()
        return bool(callback(stack, callback_id)["callback"]["status"] == "done")

    # Nobody knows whether Twilio made the call: it is placed again only once Twilio would have
    # listed it, and it has not.
    stack.wait_for(on_duty_and_done, "the callback", LATEST_CALL_SECONDS + CLOCK_SKEW_SECONDS + 20)
    assert len(outbound_calls(stack)) == 1
    direct.close()


def test_callbacks_pending_survive_a_redis_restart(stack: Stack, redis_server: RedisServer) -> None:
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=60)
    stack.sim.party(CALLER, answer="answer", ring_seconds=1, talk_seconds=5)
    callback_id = book(stack)

    redis_server.kill()  # a crash: only what the AOF holds comes back
    redis_server.start()

    stack.handler("h1")
    stack.wait_for(
        lambda: callback(stack, callback_id)["callback"]["status"] == "done", "the callback", 30
    )
