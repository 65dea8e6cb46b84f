"""`lifeline drill outage` against a running stack: it switches, routes, replays and reports."""

from __future__ import annotations

import subprocess

from tests.e2e.stack import BIN, Stack
from tests.e2e.test_outage import outage_stack  # noqa: F401  # the fixture


def test_the_outage_drill_reports_the_switch_the_calls_and_the_replay(
    outage_stack: Stack,  # noqa: F811
) -> None:
    stack = outage_stack
    stack.sim.party("+441632960999", answer="answer", ring_seconds=1, talk_seconds=5)
    result = subprocess.run(
        [
            str(BIN / "lifeline"),
            "drill",
            "outage",
            "--minutes",
            "0.1",
            "--clinical-control",
            stack.clinical_control_url,
        ],
        env=stack.env,
        cwd=stack.logs,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    assert "Outage drill report" in report
    assert "time to degraded mode        " in report
    assert "not reached" not in report
    assert "calls placed                 6" in report
    assert "to the dispatch line 1" in report
    assert "journal entries captured     1" in report
    assert "still pending                0" in report
    assert stack.mode() == "normal"
