"""The simulator's speed: a contract area's peak day (about 4,000 calls, about 60 handlers at
the evening peak) and the national peak day (101,636 calls, REFERENCE.md), each simulated on
its own embedded Redis; simulated seconds per wall-clock second, and each one's wall time."""

from __future__ import annotations

from datetime import date

from lifeline.simulation.inputs import Scenario, scenario_from
from lifeline.simulation.run import Result, simulate_on_own_redis

SATURDAY = date(2026, 1, 3)  # the day of the week with the highest factor (1.33)
NATIONAL_PEAK = 101_636


def contract_area() -> Scenario:
    return scenario_from(start=SATURDAY, seed=1)


def national() -> Scenario:
    """The packaged profile scaled to the national peak: demand so that the Saturday makes
    101,636 calls, and every shift of the rota in proportion."""
    scenario = contract_area()
    demand = scenario.demand
    scale = NATIONAL_PEAK / (demand.calls_per_day * demand.day_of_week["sat"])
    shifts = [
        shift.model_copy(update={"handlers": round(shift.handlers * scale)})
        for shift in scenario.staffing.shifts
    ]
    return scenario.model_copy(
        update={
            "demand": demand.model_copy(
                update={"calls_per_day": demand.calls_per_day * scale, "name": "national"}
            ),
            "staffing": scenario.staffing.model_copy(update={"shifts": shifts}),
        }
    )


def peak_handlers(result: Result) -> float:
    return max(hour.handlers_on_duty for day in result.days for hour in day.hours)


def run(which: list[str]) -> None:
    print("\nsimulator: whole days on the real routing code, each on its own Redis")
    made = {"contract": contract_area, "national": national}
    for name in which:
        result = simulate_on_own_redis(made[name]())
        total = result.days[0].report.total
        print(
            f"  {result.days[0].report.total.offered:>7} calls offered, "
            f"{peak_handlers(result):5.0f} handlers at the peak ({name}): "
            f"{result.wall_seconds:7.1f} s wall, {result.speed:6.0f} simulated s per s; "
            f"answered in 60 s {100 * (total.service_level or 0):.1f}%, "
            f"P1 longest {total.p1_longest_time_to_reach or 0:.0f} s"
        )
