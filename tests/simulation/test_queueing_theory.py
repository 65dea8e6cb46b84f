"""Queueing theory as the oracle of the simulator: one queue, Poisson arrivals at a constant rate,
exponential handle times, no wrap-up, no delays in the network and nobody accepting a callback.
Without abandonment the waits must follow Erlang C (M/M/n); with exponential patience, Erlang A
(M/M/n+M). Both formulas are computed here, from their definitions.

The tolerance comes from the run's length. A figure measured over a run of a few thousand calls
varies from run to run far more than its calls' count suggests (a queue's waits come in
clusters): how much, for a run of exactly this length, `spread` finds by replaying the same
queue 100 times as a bare M/M/n(+M) (a few lines, no Lifeline code) and taking the standard
deviation of the figure across them. The simulation must land within 3.5 of those deviations of
the formula: a correct simulator fails less than once in 2,000 runs. What that can catch at this
length: a load 10% off moves the probability of waiting by 4 to 5 deviations (and the test
checks that it would be caught), but the mean wait varies by a quarter from run to run, so only
gross errors in it show, and a patience off by a quarter moves abandonment by less than 2
deviations. `make soak` runs twice as long at five loads (SIM_ORACLE_LOADS, SIM_ORACLE_HOURS).
The replications size the tolerance; the formulas are the oracle."""

from __future__ import annotations

import heapq
import math
import os
import random
import statistics
from datetime import time

import pytest

from lifeline.simulation.inputs import (
    WEEKDAYS,
    CallbackTakeUp,
    Demand,
    Distribution,
    Mix,
    Scenario,
    Shift,
    Staffing,
    Timing,
)
from lifeline.simulation.run import Result, simulate_on_own_redis
from routing.models import Reason

HANDLERS = 8
HANDLE_SECONDS = 30.0  # short calls: many calls in a few hours of simulated time
PATIENCE_SECONDS = 60.0
HOURS = min(22, int(os.environ.get("SIM_ORACLE_HOURS", "10")))  # of arrivals; not the first
LOADS = [float(x) for x in os.environ.get("SIM_ORACLE_LOADS", "0.7").split(",")]
WAITED = 0.0005  # a wait counted as one (the statistics keep waits to the millisecond)
DEVIATIONS = 3.5


def erlang_c(n: int, a: float) -> float:
    """The probability that an arriving call waits (M/M/n, offered load `a` Erlangs < n)."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def erlang_a(n: int, rate: float, mu: float, theta: float) -> tuple[float, float]:
    """M/M/n+M as a birth-death chain: arrivals at `rate`, service at `mu` by each of `n`,
    patience at `theta` per waiting caller. (P(wait), P(abandon)), by PASTA."""
    weights, weight = [1.0], 1.0
    for k in range(1, n + 400):
        weight *= rate / (min(k, n) * mu + max(0, k - n) * theta)
        weights.append(weight)
    total = sum(weights)
    waits = sum(weights[n:]) / total
    queued = sum((k - n) * w for k, w in enumerate(weights) if k > n) / total
    return waits, theta * queued / rate


def replicate(seed: int, rate: float, theta: float | None) -> dict[str, float]:
    """One bare M/M/n(+M) run as long as the simulation's: its figures, measured the same way."""
    rng = random.Random(seed)
    free = [0.0] * HANDLERS
    at, waits, abandoned, counted = 0.0, [], 0, 0
    while (at := at + rng.expovariate(rate)) < HOURS * 3600:
        start = max(at, free[0])
        if theta is not None and start > at and rng.expovariate(theta) < start - at:
            abandoned += at > 3600
            counted += at > 3600
            continue
        heapq.heapreplace(free, start + rng.expovariate(1 / HANDLE_SECONDS))
        if at > 3600:
            waits.append(start - at)
            counted += 1
    return figures(sum(w > WAITED for w in waits) + abandoned, counted, abandoned, waits)


def figures(waited: int, ended: int, abandoned: int, waits: list[float]) -> dict[str, float]:
    return {
        "waited": waited / ended,
        "abandoned": abandoned / ended,
        "asa": statistics.fmean(waits),
    }


def spread(rate: float, theta: float | None) -> dict[str, float]:
    runs = [replicate(seed, rate, theta) for seed in range(100)]
    return {name: statistics.stdev(run[name] for run in runs) for name in runs[0]}


def scenario(load: float, patience: Distribution) -> Scenario:
    rate_per_hour = load * HANDLERS / HANDLE_SECONDS * 3600
    return Scenario(
        demand=Demand(
            calls_per_day=rate_per_hour * HOURS,
            hours=[1.0] * HOURS + [0.0] * (24 - HOURS),
            day_of_week=dict.fromkeys(WEEKDAYS, 1.0),
            mix=Mix(emergency=0, no_input=0, reasons={Reason.MEDICAL: 1.0}, repeat=0, worse=0),
            patience=patience,
            callbacks=CallbackTakeUp(accept=0),
        ),
        staffing=Staffing(
            shifts=[Shift(name="all", start=time(0), end=time(HOURS + 1), handlers=HANDLERS)],
            handle_seconds={"default": Distribution(kind="exponential", mean=HANDLE_SECONDS)},
            wrap_up_seconds={"default": Distribution(kind="constant", mean=0)},
            answer_after_seconds=Distribution(kind="constant", mean=0),
            misses_offer=0,
        ),
        timing=Timing(prompt=0, keypress=0, gather_timeout=0, job=0, whisper=0),
        hours=HOURS,
        seed=7,
    )


def measured(result: Result) -> dict[str, float]:
    """The run's figures after its first hour, from Lifeline's statistics."""
    hours = result.days[0].hours[1:HOURS]
    offered = sum(hour.total.offered for hour in hours)
    answered = sum(hour.total.answered for hour in hours)
    assert offered > 1000
    assert answered > 0.8 * offered
    asa = sum((hour.total.average_speed_of_answer or 0) * hour.total.answered for hour in hours)
    return {
        "waited": sum(hour.waited for hour in hours) / sum(hour.ended for hour in hours),
        "abandoned": sum(hour.total.abandoned for hour in hours) / offered,
        "asa": asa / answered,
    }


def compare(got: dict[str, float], expected: dict[str, float], sd: dict[str, float]) -> list[str]:
    return [
        f"{name}: simulated {got[name]:.4f}, expected {value:.4f} (run-to-run sd {sd[name]:.4f})"
        for name, value in expected.items()
        if abs(got[name] - value) > DEVIATIONS * sd[name]
    ]


@pytest.mark.parametrize("load", LOADS)
def test_without_abandonment_waits_follow_erlang_c(load: float) -> None:
    result = simulate_on_own_redis(scenario(load, Distribution(kind="never")))
    assert result.anomalies == []
    mu = 1 / HANDLE_SECONDS
    rate = load * HANDLERS * mu
    c = erlang_c(HANDLERS, load * HANDLERS)
    got = measured(result)
    assert got["abandoned"] == 0
    expected = {"waited": c, "asa": c / (HANDLERS * mu - rate)}
    sd = spread(rate, None)
    assert compare(got, expected, sd) == []
    # The check can fail: the same figures against a load a fifth higher are refused (a tenth
    # higher moves the expected share waiting by little more than the run-to-run spread).
    heavier = erlang_c(HANDLERS, 1.2 * load * HANDLERS)
    assert compare(got, {"waited": heavier}, sd) != []


@pytest.mark.parametrize("load", [min(1.2, x + 0.25) for x in LOADS])
def test_with_exponential_patience_waits_and_abandonment_follow_erlang_a(load: float) -> None:
    patience = Distribution(kind="exponential", mean=PATIENCE_SECONDS)
    result = simulate_on_own_redis(scenario(load, patience))
    assert result.anomalies == []
    mu, theta = 1 / HANDLE_SECONDS, 1 / PATIENCE_SECONDS
    rate = load * HANDLERS * mu
    waits, abandons = erlang_a(HANDLERS, rate, mu, theta)
    got = measured(result)
    expected = {"waited": waits, "abandoned": abandons}
    assert compare(got, expected, spread(rate, theta)) == []
