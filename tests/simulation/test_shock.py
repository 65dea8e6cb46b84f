"""Priority 1 under a shock: the packaged contract area at 3.5 times its demand (a bank-holiday
Monday, REFERENCE.md) with its normal rota. The floor is overwhelmed, and yet every caller who
says it is an emergency reaches a handler or the dispatch line within the rules' limit. In
`make test` the night's first hours (22 handlers against three and a half times the night's
calls); in `make soak` the whole day (SIM_SHOCK_HOURS=24)."""

from __future__ import annotations

import os
from datetime import date

from lifeline.simulation.inputs import scenario_from
from lifeline.simulation.run import simulate_on_own_redis
from routing.rules import default_rules

HOURS = int(os.environ.get("SIM_SHOCK_HOURS", "5"))


def test_at_three_and_a_half_times_demand_every_emergency_reaches_help_within_the_limit() -> None:
    scenario = scenario_from(start=date(2026, 1, 5), hours=HOURS, seed=11)
    scenario = scenario.model_copy(
        update={"demand": scenario.demand.model_copy(update={"factor": 3.5})}
    )
    result = simulate_on_own_redis(scenario)
    assert result.anomalies == []
    total = result.days[0].report.total
    emergencies = sum(row.offered for row in result.days[0].report.figures if row.priority == 1)
    limit = default_rules().emergency.handler_limit_seconds
    # The shock is real: most callers wait far past a minute, many give up.
    assert total.service_level is not None
    assert total.service_level < 0.8
    assert (total.abandoned_after_30s_rate or 0) > 0.05
    # Every emergency reached a handler or the dispatch line, none after the limit.
    assert emergencies >= 15
    assert total.p1_reached == emergencies
    assert total.p1_longest_time_to_reach is not None
    assert total.p1_longest_time_to_reach <= limit
