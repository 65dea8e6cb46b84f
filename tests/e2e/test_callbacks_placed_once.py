"""A callback rings the patient once, whatever happens to the worker placing it: killed between
Twilio's answer and the write that records the call (its status callbacks lost too), killed
before its request reached Twilio, offered again by the sweep while nobody knows whether its
call was made, or answered 429. Real processes, real RQ workers, the simulated network over
HTTP; the kill lands where it should by holding the sim's answer and pausing Redis's writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio

from console.tokens import Role, Scope, Tokens
from routing import keys
from routing.callbacks import DIALLING
from tests.conftest import CALLER
from tests.e2e.stack import BIN, LATEST_CALL_SECONDS, Stack
from tests.e2e.test_callbacks_through_the_network import book, callback, placing_runs
from tests.sim.servers import wait_until
from workers.dial_intents import CLOCK_SKEW_SECONDS, outbound_field

PAUSE_MS = 10_000  # Redis's writes are paused at most this long, should a test fail meanwhile
# Commands that block by themselves: a client blocked in one of these is not held by the pause.
BLOCKING = {"blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"}


@contextlib.contextmanager
def patient_first_stack(redis_url: str, logs: Path, **offers: int) -> Iterator[Stack]:
    """The stack with cron; the patient rung first (the call placed is the call to the patient,
    who is busy), and lost offers given up on quickly."""
    running = Stack(redis_url, logs, with_cron=True).start()
    try:
        rules = running.api.get("/api/v1/rules").json()["rules"]
        rules["offers"].update(offer_timeout_seconds=5, lost_after_seconds=5, **offers)
        rules["callbacks"]["first"] = "patient"
        version = running.api.post("/api/v1/rules/versions", json={"rules": rules}).json()
        activated = httpx.post(
            f"{running.console_url}/api/v1/rules/versions/{version['number']}/activate",
            json={},
            headers={"Authorization": f"Bearer {rules_token(redis_url)}"},
            timeout=10,
        )
        assert activated.status_code == 200, activated.text
        running.sim.party(CALLER, answer="busy", ring_seconds=1)
        yield running
    finally:
        running.stop()


def rules_token(redis_url: str) -> str:
    """A supervisor's token that may activate rule sets."""

    async def create() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            rules = frozenset({Scope.RULES})
            made = await Tokens(client).create(
                "e2e rules", Role.SUPERVISOR, time.time(), scopes=rules
            )
            return made[1]
        finally:
            await client.aclose()

    return asyncio.run(create())


@pytest.fixture
def patient_first(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    with patient_first_stack(redis_url, tmp_path) as running:
        yield running


@pytest.fixture
def consoles_go_quiet(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A handler whose console is silent for five seconds leaves the floor."""
    with patient_first_stack(redis_url, tmp_path, heartbeat_timeout_seconds=5) as running:
        yield running


@pytest.fixture
def direct(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    with contextlib.suppress(redis.RedisError):
        client.client_unpause()
    client.close()


def calls_to_the_patient(stack: Stack) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = stack.sim.http.get("/sim/calls").json()["calls"]
    return [call for call in calls if call["to"] == CALLER]


def held(stack: Stack) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = stack.sim.http.get("/sim/holds").json()["held"]
    return rows


def creates(stack: Stack) -> list[int]:
    """What the sim answered to each `calls.create`."""
    logged = stack.sim.http.get("/sim/requests").json()["requests"]
    return [
        int(entry["status"])
        for entry in logged
        if entry["method"] == "POST" and entry["path"].endswith("/Calls.json")
    ]


def ports_of(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux's /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def family(pid: int) -> list[int]:
    """A process and its descendants: the worker and the work horse it forked for the job (in a
    process group of its own)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    members = [pid]
    for member in members:
        members.extend(child for child, parent in parents.items() if parent == member)
    return members


def ports_of_family(worker: int) -> set[int]:
    ports: set[int] = set()
    for pid in family(worker):
        with contextlib.suppress(OSError):
            ports |= ports_of(pid)
    return ports


def clients_on(direct: redis.Redis, ports: set[int]) -> list[dict[str, Any]]:
    """Redis's clients connected from those local ports."""
    return [
        client for client in direct.client_list() if int(client["addr"].rsplit(":", 1)[1]) in ports
    ]


def horses(worker: int) -> list[int]:
    """The work horses RQ forked for the worker's jobs: each leads a process group of its own."""
    found = []
    for pid in family(worker)[1:]:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                found.append(pid)
    return found


def writing_blocked(direct: redis.Redis, worker: int) -> bool:
    """Whether the worker's horse waits, paused, on a write (the one recording the call Twilio
    answered with: nothing else is written between the answer and it)."""
    ports: set[int] = set()
    for horse in horses(worker):
        with contextlib.suppress(OSError):
            ports |= ports_of(horse)
    return any(
        "b" in client["flags"] and client["cmd"] not in BLOCKING | {"xread", "xreadgroup", "wait"}
        for client in clients_on(direct, ports)
    )


def kill_worker(stack: Stack) -> None:
    """SIGKILL to the worker and to the work horse running its job."""
    worker = stack.processes["worker"]
    for pid in family(worker.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait()


def settled(stack: Stack, callback_id: str) -> bool:
    """The callback's attempt counted (a retry scheduled), or the patient rung again."""
    status = callback(stack, callback_id)["callback"]["status"]
    return status == "scheduled" or len(calls_to_the_patient(stack)) > 1


def test_a_worker_killed_after_twilio_made_the_call_before_it_was_recorded_rings_once(
    patient_first: Stack, direct: redis.Redis
) -> None:
    stack = patient_first
    callback_id = book(stack)
    stack.sim.faults(status_callbacks={"drop": True}, hold={"stage": "answer", "method": "POST"})

    stack.handler("h1")
    stack.wait_for(lambda: len(held(stack)) == 1, "Twilio to make the call, its answer held")
    [made] = calls_to_the_patient(stack)  # the patient's phone rings; the worker does not know
    direct.client_pause(PAUSE_MS, all=False)  # writes only: reads go on
    stack.sim.http.post("/sim/holds/release", json={}).raise_for_status()
    worker = stack.processes["worker"].pid
    stack.wait_for(lambda: writing_blocked(direct, worker), "the worker to write the SID")
    ports = ports_of_family(worker)
    kill_worker(stack)
    # Its write waits in Redis, unexecuted, until Redis lets the dead connection go.
    wait_until(lambda: clients_on(direct, ports) == [], "Redis to drop the worker's connections")
    direct.client_unpause()
    mark = direct.hget(keys.callback(callback_id), outbound_field(1))
    assert str(mark).startswith(DIALLING)  # nothing but the intent: the SID never stored

    stack.spawn("worker", str(BIN / "lifeline"), "worker")
    stack.wait_for(lambda: settled(stack, callback_id), "the callback to settle", 30)

    assert [call["sid"] for call in calls_to_the_patient(stack)] == [made["sid"]]
    assert creates(stack) == [201]
    view = callback(stack, callback_id)
    assert view["callback"]["attempts"] == 1
    [missed] = [entry for entry in view["history"] if entry["event"] == "not reached"]
    assert missed["detail"]["outcome"] == "busy"  # its outcome, whose status callback was lost


def test_a_worker_killed_before_its_request_reached_twilio_rings_once(
    patient_first: Stack, direct: redis.Redis
) -> None:
    stack = patient_first
    callback_id = book(stack)
    stack.sim.faults(hold={"stage": "request", "method": "POST"})

    stack.handler("h1")
    stack.wait_for(lambda: len(held(stack)) == 1, "the worker to ask Twilio for the call")
    kill_worker(stack)
    stack.sim.http.post("/sim/holds/release", json={"drop": True}).raise_for_status()
    assert calls_to_the_patient(stack) == []  # the request never reached Twilio
    mark = direct.hget(keys.callback(callback_id), outbound_field(1))
    assert str(mark).startswith(DIALLING)

    # Nothing was made, so this cannot tell whether the Calls list is asked (the test above
    # can): it shows the call is still placed, once no request could be making one.
    stack.spawn("worker", str(BIN / "lifeline"), "worker")

    def on_duty_and_settled() -> bool:  # h1's console stays open all the while
        stack.api.post("/api/v1/handlers/h1/heartbeat").raise_for_status()
        return settled(stack, callback_id)

    wait = LATEST_CALL_SECONDS + CLOCK_SKEW_SECONDS + 20
    stack.wait_for(on_duty_and_settled, "the callback to settle", wait)

    assert len(calls_to_the_patient(stack)) == 1
    assert creates(stack) == [503, 201]  # the dropped request, then the call
    assert callback(stack, callback_id)["callback"]["attempts"] == 1


def test_a_callback_offered_again_while_its_call_went_unrecorded_rings_once(
    consoles_go_quiet: Stack,
) -> None:
    stack = consoles_go_quiet
    callback_id = book(stack)
    # Twilio makes the call and its answer is lost; the call's status callbacks are lost too.
    stack.sim.faults(
        rest={"status": 500, "count": 1, "method": "POST", "carried_out": True},
        status_callbacks={"drop": True},
    )
    stack.handler("h1")
    stack.wait_for(lambda: creates(stack) == [500], "the call, its answer lost")
    stack.sim.faults(rest={"status": 500, "count": 10_000, "method": "GET"})  # no list either

    # h1's console goes quiet: the sweep takes h1 off the floor and offers the callback to h2.
    stack.handler("h2")

    def offered_again() -> bool:
        stack.api.post("/api/v1/handlers/h2/heartbeat").raise_for_status()
        return int(callback(stack, callback_id)["callback"]["offers"]) == 2

    stack.wait_for(offered_again, "the callback to be offered to h2", 30)
    stack.sim.http.delete("/sim/faults").raise_for_status()
    stack.wait_for(lambda: settled(stack, callback_id), "the callback to settle", 30)

    assert len(calls_to_the_patient(stack)) == 1
    assert creates(stack) == [500]
    view = callback(stack, callback_id)
    assert view["callback"]["attempts"] == 1  # the call made, unanswered, is its attempt
    [missed] = [entry for entry in view["history"] if entry["event"] == "not reached"]
    assert missed["detail"]["outcome"] == "busy"


def test_a_call_twilio_answers_429_is_placed_once_later(
    patient_first: Stack, redis_url: str
) -> None:
    stack = patient_first
    callback_id = book(stack)
    stack.sim.faults(rest={"status": 429, "count": 1, "method": "POST"})

    stack.handler("h1")
    stack.wait_for(lambda: settled(stack, callback_id), "the callback to settle", 30)

    assert len(calls_to_the_patient(stack)) == 1
    assert creates(stack) == [429, 201]
    runs = placing_runs(redis_url, callback_id)
    assert (runs[0], runs[-1]) == ("rate limited", "placed")
