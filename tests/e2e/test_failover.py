"""The floor on more than one machine, killed piece by piece: Redis behind a primary, a replica
and three sentinels; two web processes behind the simulated network's round robin (signing for
the public URL, as Twilio does behind a load balancer); two workers; two cron processes.

Killing the primary: every emergency caller who rings during the failover is put through to
the dispatch line; once the replica is promoted, assignment resumes (a handler coming free is
rung for the caller waiting, once). Killing a web process, a worker and a cron: the rest carry
on. The old primary, started again, rejoins as a replica with what was written meanwhile."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import redis

from lifeline.redis_server import free_port
from tests.conftest import DISPATCH
from tests.e2e.stack import BIN, TIME_SCALE, Stack
from tests.e2e.test_emergencies import at
from tests.e2e.test_outage import QUICK_BREAKER, held
from tests.sentinels import Sentinels


def through(sentinels: Sentinels, **more: str) -> dict[str, str]:
    """Settings that find Redis through the sentinels."""
    return {"REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in sentinels.ports)} | more


def dispatched_in_time(stack: Stack, emergencies: list[str]) -> None:
    """Each emergency caller put through to the dispatch line within 5 s of pressing 1."""
    for sid in emergencies:
        [dial] = stack.sim.wait_event(sid, "dial")
        assert dial["targets"] == [DISPATCH], dial
        pressed = at(stack.sim.events(sid), "input", digits="1")
        assert (dial["t"] - pressed) * TIME_SCALE <= 5, (dial["t"] - pressed) * TIME_SCALE


def served_webhooks(stack: Stack, name: str) -> int:
    """Twilio's requests a web process answered (its access log's lines for them)."""
    return stack.log(name).count(" /twilio/")


def test_the_floor_carries_on_through_a_redis_failover_and_lost_processes(
    tmp_path: Path,
) -> None:
    sentinels = Sentinels(tmp_path / "redis").start()
    stack = Stack(
        sentinels.primary.url,
        tmp_path,
        env=through(sentinels, REDIS_WAIT_REPLICAS="1"),
        with_cron=True,
    )
    web_2 = f"http://127.0.0.1:{free_port()}"
    stack.env["SIM_WEBHOOK_BACKENDS"] = f"{stack.web_url},{web_2}"
    lifeline = str(BIN / "lifeline")
    try:
        stack.start()
        port = web_2.rsplit(":", 1)[1]
        stack.spawn("web-2", lifeline, "web", "--host", "127.0.0.1", "--port", port)
        stack.spawn("worker-2", lifeline, "worker")
        stack.spawn("cron-2", lifeline, "cron")
        stack.wait_for(lambda: stack.up(f"{web_2}/healthz"), "the second web process")

        # A caller put through to a handler, a call's webhooks spread over both web processes.
        stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=3600)
        stack.handler("h1")
        first = stack.sim.call(["2", "1"], caller="+447700900101")
        stack.sim.wait_event(first, "bridged")
        assert served_webhooks(stack, "web") > 0
        assert served_webhooks(stack, "web-2") > 0

        # The primary dies. Emergency callers ring while the sentinels promote the replica.
        new_port = sentinels.replica.port
        killed = time.monotonic()
        sentinels.primary.kill()
        emergencies = []
        for n in range(4):
            emergencies.append(stack.sim.call(["1"], caller=f"+4477009002{n:02d}"))
            time.sleep(0.6)
        sentinels.wait_for(lambda: sentinels.primary_port() == new_port, "promotion")
        promoted = time.monotonic() - killed
        dispatched_in_time(stack, emergencies)

        # Assignment resumes on the new primary: a caller waiting, a handler coming free.
        waiting = stack.sim.call(["2", "1"], caller="+447700900102")
        stack.sim.wait_event(waiting, "enqueue")
        stack.sim.party("client:h2", answer="answer", ring_seconds=1, talk_seconds=3600)
        came = time.monotonic()
        stack.handler("h2")
        stack.sim.wait_event(waiting, "bridged")
        resumed = time.monotonic() - came
        dials = stack.sim.events(waiting, "dial")
        assert [dial["targets"] for dial in dials] == [["client:h2"]]  # rung once
        print(
            f"failover: promoted {promoted:.1f} s after the kill; a caller put through "
            f"{resumed:.1f} s after a handler came free, {time.monotonic() - killed:.1f} s in"
        )

        # One web process, one worker and one cron die; the rest carry on.
        for name in ("web-2", "worker", "cron"):
            stack.processes[name].send_signal(signal.SIGKILL)
            stack.processes[name].wait(timeout=10)
            del stack.processes[name]
        stack.sim.party("client:h3", answer="answer", ring_seconds=1, talk_seconds=3600)
        later = stack.sim.call(["2", "1"], caller="+447700900103")
        stack.sim.wait_event(later, "enqueue")
        stack.handler("h3")
        stack.sim.wait_event(later, "bridged")
        assert [dial["targets"] for dial in stack.sim.events(later, "dial")] == [["client:h3"]]
        emergency = stack.sim.call(["1"], caller="+447700900299")
        [dial] = stack.sim.wait_event(emergency, "dial")
        assert dial["targets"] == [DISPATCH]

        # The old primary comes back as a replica of the new one, with everything since.
        sentinels.primary.start()
        sentinels.wait_for(lambda: Sentinels.linked(sentinels.primary), "the old primary back")
        new = redis.Redis(port=new_port)
        old = redis.Redis(port=sentinels.primary.port)
        sentinels.wait_for(lambda: old.dbsize() == new.dbsize(), "it to catch up")
        assert old.hget("{ll}:handler:h3", "state") == new.hget("{ll}:handler:h3", "state")
        new.close()
        old.close()
    finally:
        stack.stop()
        sentinels.stop()
        httpx.Client().close()


def test_a_primary_that_hangs_still_leaves_emergency_callers_their_answer_in_time(
    tmp_path: Path,
) -> None:
    # Stopped, not killed: connections to it open, and nothing answers (a machine that hangs).
    sentinels = Sentinels(tmp_path / "redis").start()
    stack = Stack(sentinels.primary.url, tmp_path, env=through(sentinels))
    primary = sentinels.primary.pid
    assert primary is not None
    try:
        stack.start()
        os.kill(primary, signal.SIGSTOP)
        callers = [stack.sim.call(["1"], caller=f"+4477009003{n:02d}") for n in range(2)]
        dispatched_in_time(stack, callers)
    finally:
        os.kill(primary, signal.SIGCONT)
        stack.stop()
        sentinels.stop()


def test_the_primary_dies_with_everything_under_way_at_once(tmp_path: Path) -> None:
    """Calls on handlers and waiting, callbacks pending, the journal replaying, emergencies
    ringing: the primary killed; then nothing lost, everyone routed, nobody rung twice."""
    sentinels = Sentinels(tmp_path / "redis").start()
    env = QUICK_BREAKER | through(sentinels, REDIS_WAIT_REPLICAS="1")
    stack = Stack(
        sentinels.primary.url, tmp_path, env=env, with_cron=True, with_clinical=True, pools=True
    )
    patients = [f"+4477009005{n:02d}" for n in range(2)]
    try:
        stack.start()
        stack.sim.party(DISPATCH, answer="answer", ring_seconds=1, talk_seconds=5)
        stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=3600)
        stack.handler("h1")
        on_call = stack.sim.call(["2", "1"], caller="+447700900501")
        stack.sim.wait_event(on_call, "bridged")
        for patient in patients:  # h1 busy, the wait long: each takes the callback offered
            sid = stack.sim.call(["2", "1", "1", "1"], caller=patient)
            stack.sim.wait_ended(sid)
        waiting = stack.sim.call(["2", "1"], caller="+447700900509")
        stack.sim.wait_event(waiting, "enqueue")
        before = {kind: held(stack, kind).total() for kind in ("Patient", "ServiceRequest")}
        forced = stack.api.put("/api/v1/mode", json={"mode": "degraded", "reason": "drill"})
        assert forced.status_code == 200
        for n in range(6):  # six emergencies' cases kept while the clinical system is "down"
            sid = stack.sim.call(["1"], caller=f"+4477009007{n:02d}")
            stack.sim.wait_event(sid, "dial")
        stack.wait_for(
            lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] >= 6, "journal"
        )
        stack.clinical("slow", slow_seconds=3)
        back = stack.api.put("/api/v1/mode", json={"mode": "normal", "reason": "back"})
        assert back.status_code == 200
        stack.wait_for(lambda: len(stack.received()) >= 1, "the replay to start", 30)
        assert stack.api.get("/api/v1/journal/progress").json()["pending"] > 0

        new_port = sentinels.replica.port
        sentinels.primary.kill()
        emergencies = []
        for n in range(2):
            emergencies.append(stack.sim.call(["1"], caller=f"+4477009006{n:02d}"))
            time.sleep(0.8)
        sentinels.wait_for(lambda: sentinels.primary_port() == new_port, "promotion")
        dispatched_in_time(stack, emergencies)
        stack.clinical("up")

        for patient in patients:
            stack.sim.party(patient, answer="answer", ring_seconds=1, talk_seconds=3)
        for handler in ("h2", "h3", "h4"):
            stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=1, talk_seconds=60)
            stack.handler(handler)
        stack.sim.wait_event(waiting, "bridged")
        assert len(stack.sim.events(waiting, "dial")) == 1  # put through, rung once
        stack.wait_for(
            lambda: len(stack.api.get("/api/v1/callbacks?status=done").json()) == len(patients),
            "both callbacks made",
            90,
        )
        stack.wait_for(
            lambda: stack.api.get("/api/v1/journal/progress").json()["pending"] == 0,
            "the replay to finish",
            90,
        )
        calls = stack.sim.http.get("/sim/calls").json()["calls"]
        rung = [
            stack.sim.record(child)["to"]
            for call in calls
            if call["direction"] == "outbound-api"
            for child in stack.sim.record(call["sid"])["children"]
        ]
        assert sorted(rung) == sorted(patients)  # each patient rung once
        for kind, count in before.items():
            identifiers = held(stack, kind)
            assert identifiers.total() >= count + 6, (kind, identifiers)
            assert set(identifiers.values()) == {1}, (kind, identifiers)  # none held twice
    finally:
        stack.stop()
        sentinels.stop()
