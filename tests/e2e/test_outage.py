"""A clinical-system outage with everything running (the Procfile's worker pools): detection by
the probe, routing while degraded (the stub down, then hanging), recovery with hysteresis, and the
journal replayed — through a killed worker and a Redis restart — with nothing lost and nothing
held twice by the clinical system, a BaRS receiver or a plain FHIR server. The stub checks every
Bundle it receives against the FHIR R4 JSON schema."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lifeline.redis_server import RedisServer
from tests.conftest import CALLER
from tests.e2e.stack import BIN, Stack, procfile_workers
from tests.fhir_r4 import SCHEMA_PATH
from tests.processes import left_after

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
        control(running, "checks", {"r4_schema": str(SCHEMA_PATH)})
        yield running
    finally:
        running.stop()


def control(stack: Stack, what: str, body: dict[str, str]) -> None:
    """Set the clinical stub's kind of server or its checks."""
    response = httpx.put(f"{stack.clinical_control_url}/control/{what}", json=body, timeout=10)
    assert response.status_code == 200, response.text


def held(stack: Stack, resource_type: str) -> Counter[str]:
    """How many resources of the type the stub holds, by their identifiers."""
    response = httpx.get(
        f"{stack.clinical_control_url}/control/resources",
        params={"type": resource_type},
        timeout=10,
    )
    return Counter(str(resource["identifier"]) for resource in response.json()["resources"])


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (an RQ worker's work horse is in a process group of its own,
    and lives on when the worker is killed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        if parent == pid:
            found.append(int(text.split(" ", 1)[0]))
    return found


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


def test_a_worker_killed_during_replay_loses_nothing_and_nothing_is_held_twice(
    outage_stack: Stack,
) -> None:
    """Against a plain FHIR server, which never answers 409 (the replay's own tests,
    tests/workers/test_replay.py, run against both kinds): only the conditional creates keep
    what is sent again from being held twice."""
    stack = outage_stack
    control(stack, "server", {"kind": "plain"})
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    journal(stack, 6)
    # Each entry takes 3 s (within the adapter's 5 s): the worker is killed while the system
    # holds the answer to an entry it has stored. Forcing normal mode starts the replay (the
    # probes, which time out meanwhile, need not agree).
    stack.clinical("slow", slow_seconds=3)
    assert (
        stack.api.put("/api/v1/mode", json={"mode": "normal", "reason": "back"}).status_code == 200
    )
    stack.wait_for(lambda: len(stack.received()) >= 2, "the replay to start", 30)
    # The machine dies: the worker and all it forked. (Killed alone, the worker leaves its work
    # horse, which sends the batch, to finish it: nothing would be sent again.)
    worker = stack.processes["worker-replay"]
    forked = children_of(worker.pid)
    worker.send_signal(signal.SIGKILL)
    for pid in forked:
        os.kill(pid, signal.SIGKILL)
    worker.wait()
    assert forked
    assert left_after(10.0, pids=forked) == []
    sent_before = len(stack.received())
    assert sent_before < 6
    stack.clinical("up")

    stack.spawn("worker-replay", str(BIN / "lifeline"), *procfile_workers()["worker-replay"])
    stack.wait_for(
        lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == 0,
        "the replay to go on once the agenda hands its batch out again",
        60,
    )
    received = stack.received()
    assert [r["status"] for r in received if r["outcome"] == "invalid"] == []  # R4 schema too
    assert len(received) == 7  # the entry in flight when the worker died was sent again
    for resource_type in ("Patient", "Encounter", "ServiceRequest"):
        identifiers = held(stack, resource_type)
        assert identifiers.total() == 6, (resource_type, identifiers)
        assert set(identifiers.values()) == {1}, (resource_type, identifiers)
    created = Counter(r["case_id"] for r in received if r["outcome"] == "created")
    assert len(created) == 6
    assert set(created.values()) == {1}  # the entry sent again was answered as a duplicate
    progress = stack.api.get("/api/v1/journal/progress").json()
    assert (progress["delivered"], progress["duplicate"]) == (5, 1)


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
