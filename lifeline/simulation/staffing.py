"""The fewest handlers an hour that meet the NHS targets for a demand profile: a first answer
from the Erlang A formula (M/M/n+M, computed as its birth-death chain), then confirmed by
simulating the day on Lifeline's own routing and adding a handler to any hour that missed,
until none does. The answer is a rota (hour-long shifts) that the simulator reads.

The formula sees one queue of generalists with exponential handle times and patience; the
day has priorities, aging, IVR time and skills, which is why the simulation has the last word.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

import yaml
from pydantic import BaseModel

from lifeline.simulation.inputs import Scenario, Shift, Staffing
from lifeline.simulation.report import ABANDONED_TARGET, ASA_TARGET_SECONDS, SERVICE_LEVEL_TARGET
from lifeline.simulation.run import Day, Result, simulate_on_own_redis

ANSWER_WITHIN_SECONDS = 60
MAX_ROUNDS = 6  # simulations to confirm the answer
GENERALIST = {"clinical": 3, "mental_health": 3, "dental": 3}  # every queue's skills


@dataclass(frozen=True)
class Queueing:
    """One hour's queue as Erlang A sees it: arrivals a second, handling a second per handler
    (1 / (handle + wrap-up)), abandonment a second per waiting caller (1 / mean patience)."""

    rate: float
    mu: float
    theta: float

    def figures(self, n: int) -> tuple[float, float, float]:
        """(P(abandon), mean wait of all callers, P(wait > 60 s)) with `n` handlers."""
        if self.rate <= 0:
            return 0.0, 0.0, 0.0
        if not self.theta and n * self.mu <= self.rate:
            return 0.0, math.inf, 1.0  # the queue grows without end
        weights, weight = [1.0], 1.0
        k = 1
        while True:
            weight *= self.rate / (min(k, n) * self.mu + max(0, k - n) * self.theta)
            weights.append(weight)
            if k > n and weight < 1e-12 * sum(weights):
                break
            k += 1
        total = sum(weights)
        queued = sum((j - n) * w for j, w in enumerate(weights) if j > n) / total
        abandon = self.theta * queued / self.rate if self.theta else 0.0
        mean_wait = queued / self.rate  # Little's law over every caller who arrives
        # A caller who finds j >= n waits for j - n + 1 departures from the queue's head, each
        # at rate n * mu + (those behind them leaving do not help): the tail of that Erlang
        # (gamma) wait at 60 s, weighted by how often each j is found (PASTA).
        beyond = 0.0
        for j in range(n, len(weights)):
            stages, speed = j - n + 1, n * self.mu + self.theta
            x = speed * ANSWER_WITHIN_SECONDS
            tail = math.exp(-x) * sum(x**i / math.factorial(i) for i in range(min(stages, 170)))
            beyond += weights[j] / total * tail
        return abandon, mean_wait, beyond

    def meets(self, n: int) -> bool:
        abandon, mean_wait, beyond = self.figures(n)
        return (
            abandon <= ABANDONED_TARGET
            and mean_wait <= ASA_TARGET_SECONDS
            and 1 - beyond >= SERVICE_LEVEL_TARGET
        )

    def fewest(self) -> int:
        if self.rate <= 0:
            return 1  # somebody on the line at every hour
        # Without abandonment a queue is stable only with more handlers than its load.
        n = max(1, math.floor(self.rate / self.mu) + (0 if self.theta else 1))
        while not self.meets(n):
            n += 1
        return n


def hourly_queueing(scenario: Scenario, day: int = 1) -> list[Queueing]:
    """Each hour of day `day`: its arrivals, and the mix's handle and wrap-up times."""
    demand, staffing = scenario.demand, scenario.staffing
    weights = dict(demand.mix.reasons)
    total = sum(weights.values())
    reasons = {
        reason.value: w / total * (1 - demand.mix.emergency) for reason, w in weights.items()
    }
    reasons["emergency"] = demand.mix.emergency
    handle = sum(
        share * (staffing.handle(reason).expected() + staffing.wrap_up(reason).expected())
        for reason, share in reasons.items()
    )
    patience = demand.patience.expected()
    theta = 0.0 if math.isinf(patience) else 1 / patience
    weekday = (scenario.start.toordinal() + day - 1 - 1) % 7  # Monday is 0
    return [Queueing(demand.rate(day, weekday, hour), 1 / handle, theta) for hour in range(24)]


def rota(counts: list[int], like: Staffing) -> Staffing:
    """Hour-long shifts of generalists, `counts[h]` in hour h, with `like`'s times."""
    shifts = [
        Shift(
            name=f"h{hour:02d}",
            start=time(hour),
            end=time((hour + 1) % 24),
            handlers=count,
            skills=GENERALIST,
        )
        for hour, count in enumerate(counts)
    ]
    return like.model_copy(update={"shifts": shifts, "name": "fewest handlers an hour"})


def missed_hours(day: Day) -> list[int]:  # of the hours simulated
    """The hours whose figures miss a target (an hour with no answered call misses none)."""
    missed = []
    for hour in day.hours:
        t = hour.total
        if (
            (t.service_level is not None and t.service_level < SERVICE_LEVEL_TARGET)
            or (t.average_speed_of_answer or 0) > ASA_TARGET_SECONDS
            or (t.abandoned_after_30s_rate or 0) > ABANDONED_TARGET
        ):
            missed.append(hour.hour)
    return missed


class StaffingAnswer(BaseModel):
    erlang: list[int]  # the formula's answer, hour by hour
    handlers: list[int]  # after the simulation's confirmation
    rounds: int  # simulations run
    confirmed: bool  # the last simulation met every target in every hour
    staffing: Staffing
    result: Result  # the last simulation


def as_yaml(staffing: Staffing) -> str:
    """The rota as the simulator reads it (`lifeline simulate --staffing`)."""
    document = staffing.model_dump(mode="json")
    for shift in document["shifts"]:
        shift["start"], shift["end"] = shift["start"][:5], shift["end"][:5]
    header = (
        "# The fewest handlers an hour that met the NHS targets for the demand profile: the\n"
        "# Erlang A formula's answer, confirmed by simulation (lifeline staffing).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False)


def fewest_handlers(
    scenario: Scenario, progress: Callable[[int, list[int]], None] | None = None
) -> StaffingAnswer:
    """The answer for the scenario's first day (its demand, its handle times)."""
    one_day = scenario.model_copy(update={"days": 1})
    erlang = [hour.fewest() for hour in hourly_queueing(one_day)]
    counts = list(erlang)
    result = None
    for rounds in range(1, MAX_ROUNDS + 1):
        staffing = rota(counts, scenario.staffing)
        result = simulate_on_own_redis(one_day.model_copy(update={"staffing": staffing}))
        missed = missed_hours(result.days[0])
        if progress is not None:
            progress(rounds, missed)
        if not missed:
            return StaffingAnswer(
                erlang=erlang, handlers=counts, rounds=rounds, confirmed=True,
                staffing=staffing, result=result,
            )  # fmt: skip
        for hour in missed:
            counts[hour] += 1
    assert result is not None
    return StaffingAnswer(
        erlang=erlang, handlers=counts, rounds=MAX_ROUNDS, confirmed=False,
        staffing=rota(counts, scenario.staffing), result=result,
    )  # fmt: skip
