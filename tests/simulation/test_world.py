"""The modelled world's handlers as the console would have them: a break asked for on a call
begins when the call is over and lasts its length from then; occupancy is Lifeline's own
handler states (breaks are not working time); and a day when the clocks change keeps London's
hours."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, time
from pathlib import Path

from lifeline.simulation.inputs import (
    WEEKDAYS,
    Break,
    CallbackTakeUp,
    Demand,
    Distribution,
    Mix,
    Scenario,
    Shift,
    Staffing,
)
from lifeline.simulation.run import simulate_on_own_redis
from routing.models import Reason

LIFELINE = Path(sys.executable).with_name("lifeline")
EVERY_SKILL = {"clinical": 3, "mental_health": 3, "dental": 3}


def long_calls_and_a_break() -> Scenario:
    """Two handlers on 20-minute calls, each asking for a 5-minute break 10 minutes in."""
    return Scenario(
        demand=Demand(
            calls_per_day=24 * 30,
            hours=[1.0] * 24,
            day_of_week=dict.fromkeys(WEEKDAYS, 1.0),
            mix=Mix(emergency=0, no_input=0, reasons={Reason.MEDICAL: 1.0}, repeat=0, worse=0),
            patience=Distribution(kind="never"),
            callbacks=CallbackTakeUp(accept=0),  # every call answered in the queue
        ),
        staffing=Staffing(
            shifts=[
                Shift(
                    name="s",
                    start=time(0),
                    end=time(6),
                    handlers=2,
                    skills=EVERY_SKILL,
                    breaks=[Break(after_minutes=10, minutes=5, spread_minutes=0)],
                )
            ],
            handle_seconds={"default": Distribution(kind="constant", mean=1200)},
            wrap_up_seconds={"default": Distribution(kind="constant", mean=0)},
            answer_after_seconds=Distribution(kind="constant", mean=1),
            misses_offer=0,
        ),
        hours=3,
        seed=1,
    )


def test_a_break_asked_for_on_a_call_begins_after_it_and_ends_on_time() -> None:
    result = simulate_on_own_redis(long_calls_and_a_break())
    hours = result.days[0].hours
    # Both handlers talk on after their breaks: every hour answers calls, as 2 handlers on
    # 20-minute calls with 5 minutes off once can (a break that never ended answered none).
    assert all(hour.total.answered >= 4 for hour in hours), [h.total.answered for h in hours]
    # Nearly all their time is handling calls: the queue never empties.
    assert hours[1].occupancy is not None
    assert hours[1].occupancy > 0.95
    assert 1.9 < hours[1].handlers_on_duty <= 2.0


def test_the_day_the_clocks_go_forward_has_23_hours_on_londons_clock(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(LIFELINE), "simulate", "--start", "2026-03-29", "--factor", "0.05",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [day] = json.loads((tmp_path / "result.json").read_text())["days"]
    assert day["date"] == date(2026, 3, 29).isoformat()
    assert [hour["hour"] for hour in day["hours"]] == [0, *range(2, 24)]
    # The evening's calls come, at the evening's (London) rate.
    assert day["hours"][-1]["total"]["offered"] > 0
