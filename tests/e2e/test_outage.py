"""A clinical-system outage with everything running (the Procfile's worker pools): detection by
the probe, routing while degraded (the stub down, then hanging), recovery with hysteresis, and the
journal replayed — through a killed worker and a Redis restart — with nothing lost and nothing
sent twice as new."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline.redis_server import RedisServer
from tests.conftest import CALLER
from tests.e2e.stack import BIN, Stack, procfile_workers

QUICK_BREAKER = {
    "CLINICAL_FAILURES_TO_DEGRADE": "2",
    "CLINICAL_FAILURE_WINDOW_SECONDS": "60",
    "CLINICAL_HEALTHY_PROBES_TO_RECOVER": "2",
    "CLINICAL_RECOVERY_SECONDS": "3",
    "REPLAY_PER_SECOND": "2",
}


@pytest.fixture
def outage_stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(
        redis_url, tmp_path, with_cron=True, with_clinical=True, env=QUICK_BREAKER, pools=True
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def said(stack: Stack, sid: str) -> list[str]:
    return [event["text"] for event in stack.sim.events(sid, "say")]


def test_an_outage_is_detected_routed_around_and_reconciled(outage_stack: Stack) -> None:
    stack = outage_stack
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=30)
    stack.handler("h1")  # on a call throughout, so no handler is free for the emergency
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=300)
    in_progress = stack.sim.call(["2", "1"], caller="+447700900001")
    stack.sim.wait_event(in_progress, "bridged")

    stack.clinical("down")
    started = time.monotonic()
    stack.wait_for(lambda: stack.mode() == "degraded", "degraded mode", 30)
    detected = time.monotonic() - started
    assert detected < 20  # two failed probes, five seconds apart
    assert stack.sim.record(in_progress)["ended"] is False  # the call in progress carries on

    medical = stack.sim.call(["2", "1"], caller="+447700900002")
    stack.sim.wait_event(medical, "enqueue")
    assert any("systems are affected" in text for text in said(stack, medical))

    emergency = stack.sim.call(["1"])
    [dial] = stack.sim.wait_event(emergency, "dial")
    assert dial["targets"] == ["+441632960999"]
    stack.sim.wait_event(emergency, "bridged")
    dispatcher = stack.sim.record(stack.sim.record(emergency)["children"][0])
    heard = [event["text"] for event in dispatcher["events"] if event["type"] == "say"]
    assert heard[0].startswith("NHS 111 emergency transfer. Case ")

    stack.clinical("slow", slow_seconds=30)  # a system that hangs rather than refuses
    hanging = stack.sim.call(["1"], caller="+447700900003")
    [dial] = stack.sim.wait_event(hanging, "dial")
    assert dial["targets"] == ["+441632960999"]  # nothing in the call path waits on it

    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] >= 2, "journal"
    )
    assert stack.received() == [] or all(r["outcome"] != "created" for r in stack.received())

    stack.clinical("up")
    stack.wait_for(lambda: stack.mode() == "normal", "normal mode", 60)
    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == 0, "the replay", 60
    )
    delivered = [r for r in stack.received() if r["outcome"] == "created"]
    ambulance = [r for r in delivered if r["bundle"]["entry"][2]["resource"]["code"]["text"]]
    assert len(delivered) == 2
    tags = {tag["code"] for r in delivered for tag in r["bundle"].get("meta", {}).get("tag", [])}
    assert tags == {"contingency"}
    assert ambulance
    history = [row["mode"] for row in stack.api.get("/api/v1/mode").json()["history"]]
    assert history == ["normal", "degraded"]  # once each way: no thrash
    assert CALLER  # (the emergency callers' numbers went to the clinical system, not the logs)
    for name in ("web", *procfile_workers(), "cron"):
        assert "+447700900003" not in stack.log(name)


def journal(stack: Stack, count: int) -> None:
    """`count` referrals captured while the system is down (forced degraded)."""
    forced = stack.api.put("/api/v1/mode", json={"mode": "degraded", "reason": "drill"})
    assert forced.status_code == 200
    for n in range(count):
        sid = stack.sim.call(["1"], caller=f"+4477009{n:05d}")
        stack.sim.wait_event(sid, "dial")
    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == count, "journal"
    )


def test_a_worker_killed_during_replay_loses_nothing_and_sends_nothing_twice_as_new(
    outage_stack: Stack,
) -> None:
    stack = outage_stack
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    journal(stack, 6)
    stack.clinical("slow", slow_seconds=1)  # each entry takes a second: killed in mid-batch
    assert (
        stack.api.put("/api/v1/mode", json={"mode": "normal", "reason": "back"}).status_code == 200
    )
    stack.wait_for(lambda: len(stack.received()) >= 2, "the replay to start", 30)
    stack.processes["worker-replay"].send_signal(signal.SIGKILL)
    stack.processes["worker-replay"].wait()
    sent_before = len(stack.received())
    assert sent_before < 6

    stack.spawn("worker-replay", str(BIN / "lifeline"), *procfile_workers()["worker-replay"])
    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == 0,
        "the replay to go on once the agenda hands its batch out again",
        60,
    )
    created = Counter(r["case_id"] for r in stack.received() if r["outcome"] == "created")
    assert len(created) == 6
    assert set(created.values()) == {1}  # a re-sent entry was answered as a duplicate
    progress = stack.api.get("/api/v1/journal/progress").json()
    assert progress["delivered"] + progress["duplicate"] == 6


def test_a_journal_pending_survives_a_redis_restart(
    outage_stack: Stack, redis_server: RedisServer
) -> None:
    stack = outage_stack
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    journal(stack, 2)
    redis_server.kill()
    redis_server.start()
    assert stack.api.get("/api/v1/journal/progress").json()["pending"] == 2
    stack.api.put("/api/v1/mode", json={"mode": "auto", "reason": "back"})
    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == 0, "the replay", 60
    )
    assert len([r for r in stack.received() if r["outcome"] == "created"]) == 2
