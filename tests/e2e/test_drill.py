"""`lifeline drill outage` against a running stack: it switches, routes, replays and reports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import redis

from routing import keys
from tests.e2e.stack import BIN, Stack
from tests.e2e.test_outage import outage_stack  # noqa: F401  # the fixture

QUEUED = (
    "medical",
    "mental health",
    "dental",
    "medicines",
    "existing case",
    "no answer at the screen",
    "Welsh line, in Welsh",
)


def drill(stack: Stack, minutes: float) -> subprocess.CompletedProcess[str]:
    command = ["drill", "outage", "--minutes", str(minutes)]
    return subprocess.run(
        [str(BIN / "lifeline"), *command, "--clinical-control", stack.clinical_control_url],
        env=stack.env,
        cwd=stack.logs,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def call_line(kind: str, routed: str) -> str:
    return f"\n    {kind:<27}{routed}\n"


def test_the_outage_drill_routes_a_call_of_every_kind_while_degraded_and_replays_the_journal(
    outage_stack: Stack,  # noqa: F811
) -> None:
    stack = outage_stack
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    stack.handler("h1")  # on duty but on a call throughout: only degraded mode dispatches at once
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=600)
    stack.sim.wait_event(stack.sim.call(["2", "1"], caller="+447700900001"), "bridged")
    store = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    tokens_before = store.hgetall(keys.TOKENS)

    result = drill(stack, minutes=0.1)

    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    assert "Outage drill report" in report
    assert "not reached" not in report
    assert "calls placed while degraded  9\n" in report
    assert call_line("emergency", "to the dispatch line at once") in report
    assert call_line("callback", "callback booked, heard the outage message") in report
    for kind in QUEUED:
        assert call_line(kind, "queued, heard the outage message") in report
    assert "calls routed as expected     9 of 9\n" in report
    assert "journal entries captured     2 (ambulance 1, referral 1)\n" in report
    assert "replayed                     2: 2 delivered, 0 already there\n" in report
    assert "failed (for a person)        0\n" in report
    assert "still pending                0 (0 in the whole journal)\n" in report
    created = [r for r in stack.received() if r["outcome"] == "created"]
    assert len(created) == 2  # what the report calls replayed reached the clinical system
    assert stack.mode() == "normal"
    assert stack.api.get("/api/v1/callbacks?status=pending").json() == []  # the drill tidied up
    assert store.hgetall(keys.TOKENS) == tokens_before  # and its API token is revoked


def test_a_drill_whose_outage_is_never_noticed_says_so_and_brings_the_system_back(
    redis_url: str, tmp_path: Path
) -> None:
    quick = {"CLINICAL_FAILURES_TO_DEGRADE": "1", "CLINICAL_PROBE_INTERVAL_SECONDS": "1"}
    stack = Stack(redis_url, tmp_path, with_clinical=True, env=quick)  # no cron: no probes
    stack.start()
    try:
        result = drill(stack, minutes=0.05)
        fault = httpx.get(f"{stack.clinical_control_url}/control/fault", timeout=10).json()
        calls = stack.sim.http.get("/sim/calls").json()["calls"]
    finally:
        stack.stop()

    assert result.returncode == 1, result.stdout + result.stderr
    assert "the mode did not switch to degraded within 12 s" in result.stderr
    assert "is `lifeline cron` running?" in result.stderr
    assert fault["mode"] == "up"
    assert calls == []  # no caller was rung into a line that was not degraded
