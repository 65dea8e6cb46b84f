"""The fewest handlers an hour: the Erlang A formula's answer (one fewer misses the formula's
targets), confirmed by simulating the day on Lifeline's routing, and written as a rota that
`lifeline simulate` reads and meets every target with, hour by hour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from lifeline.simulation.inputs import Staffing, scenario_from
from lifeline.simulation.staffing import Queueing, hourly_queueing
from tests.simulation.test_queueing_theory import erlang_a

LIFELINE = Path(sys.executable).with_name("lifeline")


def test_the_formula_gives_the_fewest_that_meet_its_targets() -> None:
    for hour in hourly_queueing(scenario_from()):
        n = hour.fewest()
        assert hour.meets(n)
        assert n == 1 or not hour.meets(n - 1)
    # Callers who never give up: a queue is stable only with more handlers than its load.
    never = Queueing(rate=0.1, mu=1 / 60, theta=0.0)
    assert never.fewest() > 6
    assert never.figures(6)[1] == float("inf")
    # Its chain is Erlang A's: the same P(abandon) as the oracle's own.
    queue = Queueing(rate=0.1, mu=1 / 60, theta=1 / 120)
    assert abs(queue.figures(6)[0] - erlang_a(6, 0.1, 1 / 60, 1 / 120)[1]) < 1e-9


def test_the_answer_is_confirmed_by_simulation_and_is_a_rota_the_simulator_reads(
    tmp_path: Path,
) -> None:
    out = tmp_path / "staffing"
    done = subprocess.run(
        [str(LIFELINE), "staffing", "--factor", "0.5", "--hours", "8", "--seed", "5",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rota = Staffing.model_validate(yaml.safe_load((out / "rota.yaml").read_text()))
    assert [shift.start.hour for shift in rota.shifts] == list(range(24))
    assert all(shift.handlers >= 1 for shift in rota.shifts)
    result = json.loads((out / "result.json").read_text())
    for hour in result["days"][0]["hours"]:
        total = hour["total"]
        assert total["service_level"] is None or total["service_level"] >= 0.95, hour["hour"]
        assert (total["abandoned_after_30s_rate"] or 0) <= 0.03, hour["hour"]
        assert (total["average_speed_of_answer"] or 0) <= 20, hour["hour"]
    # The rota written is the one confirmed: the table printed, hour by hour.
    table = done.stdout.split("hour  Erlang A  confirmed\n")[1].splitlines()[:24]
    assert [int(line.split()[2]) for line in table] == [s.handlers for s in rota.shifts]
    first = [int(line.split()[1]) for line in table]
    assert all(erlang <= shift.handlers for erlang, shift in zip(first, rota.shifts, strict=True))
