"""`lifeline simulate` from the command line on the packaged profile: its files, its figures
(Lifeline's own statistics, adding up with what the model saw), and the same seed giving the
same run."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from lifeline.simulation.inputs import scenario_from
from lifeline.simulation.run import simulate_on_own_redis

LIFELINE = Path(sys.executable).with_name("lifeline")


def test_the_packaged_profile_runs_and_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [str(LIFELINE), "simulate", "--factor", "0.1", "--seed", "3", "--start", "2026-01-03",
         "--hours", "8", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "answered within 60 s" in done.stdout
    result = json.loads((out / "result.json").read_text())
    [day] = result["days"]
    total = day["report"]["total"]
    # Every call the model made came in, and entered a queue (nobody hung up in the IVR).
    assert total["offered"] == result["counts"]["calls"] > 50
    ended = total["answered"] + total["abandoned"] + total["dispatched"] + total["diverted"]
    assert total["offered"] - 3 <= ended <= total["offered"]  # a call or two still talking
    assert total["p1_reached"] >= 1
    assert total["p1_longest_time_to_reach"] <= 30
    assert sum(hour["total"]["offered"] for hour in day["hours"]) == total["offered"]
    assert result["anomalies"] == []
    header = (out / "hours.csv").read_text().splitlines()[0]
    assert header.startswith("day,date,hour,queue,priority,offered,answered")
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 4
    wait = (out / "day1-wait.svg").read_text()
    assert wait.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "Answered within 60 s" in page

    # The same seed, the same run: every figure of the day again.
    again = simulate_on_own_redis(
        scenario_from(start=date(2026, 1, 3), hours=8, seed=3).model_copy(
            update={
                "demand": scenario_from().demand.model_copy(update={"factor": 0.1}),
            }
        )
    )
    assert again.days[0].model_dump(mode="json") == day


def test_a_bad_input_file_is_refused_with_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "demand.yaml"
    bad.write_text("calls_per_day: -5\nhours: [1, 2]\n")
    done = subprocess.run(
        [str(LIFELINE), "simulate", "--demand", str(bad), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "calls_per_day" in done.stderr
    assert "hours" in done.stderr
    assert not (tmp_path / "out").exists()


def test_every_input_is_checked_before_anything_runs(tmp_path: Path) -> None:
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("queues: [not, a, mapping]\n")
    events = tmp_path / "events.yaml"
    events.write_text(f"activations: [{{day: 1, at: '12:00', rules: {bad_rules}}}]\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    endless = tmp_path / "endless.yaml"
    endless.write_text("shifts: []\nhandle_seconds: {default: {kind: never}}\n")
    instant = tmp_path / "instant.yaml"
    instant.write_text(
        "shifts: []\nhandle_seconds: {default: {kind: constant, mean: 0}}\n"
        "wrap_up_seconds: {default: {kind: constant, mean: 0}}\n"
    )
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00calls")
    no_time = tmp_path / "no-time.yaml"
    no_time.write_text("outages: [{day: 1, start: '10:00', end: '10:00'}]\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "shifts: [{name: a, start: '08:00', end: '16:00', handlers: 2, skills: {clincal: 3}}]\n"
    )
    later = tmp_path / "later.yaml"
    later.write_text("outages: [{day: 2, start: '10:00', end: '11:00'}]\n")
    for arguments, said in (
        (["--rules", str(bad_rules)], f"{bad_rules}: "),
        (["--events", str(events)], "activation at 12:00"),
        (["--out", str(a_file)], "a-file"),
        (["--start", "9999-12-31"], "start"),
        (["--start", "1999-01-01"], "start: Input should be greater than or equal to 2000-01-01"),
        (["--staffing", str(endless)], "a call ends"),
        (["--staffing", str(instant)], "a call takes some time"),
        (["--demand", str(binary)], "binary.yaml: not a text file"),
        (["--events", str(no_time)], "an outage ends after it starts"),
        (["--events", str(later)], "an outage on day 2: the run has 1 day"),
        (["--staffing", str(typo)], "skills no rule set of the run knows: ['clincal']"),
    ):
        done = subprocess.run(
            [str(LIFELINE), "simulate", *arguments, "--out", str(tmp_path / "out")]
            if "--out" not in arguments
            else [str(LIFELINE), "simulate", *arguments],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (arguments, done.stderr)
        assert said in done.stderr, (arguments, done.stderr)
        assert said in done.stderr.strip().splitlines()[-1], done.stderr  # said in a line
        assert "Traceback" not in done.stderr
        assert "simulating" not in done.stdout
