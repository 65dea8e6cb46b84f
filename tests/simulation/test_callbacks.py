"""Callbacks in a simulated day, made by Lifeline's own code: callers who take the wait loop's
offer confirm their number and hang up; the placing job (workers/callback_calls.py) calls them
back through the modelled network, at the calling slots the shared limit gives (the agenda's
items, taken when due), with either leg first; a patient who does not answer is tried again at
the rules' spacing, and no more often than its attempts allow.

A shift starting with more free handlers than the outbound limit can serve at once is the case
that found two faults: offers waiting for their calling slot were taken back by the sweep (the
offer's time ran from the reservation, not the slot) and offered again at a later slot, over and
over, so that most callbacks were never made; and a callback with no slot soon was offered again
at once to the handler just freed, again and again."""

from __future__ import annotations

from datetime import time

import pytest

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
from lifeline.simulation.run import Result, simulate_on_own_redis
from lifeline.simulation.what_if import compare
from routing.models import Priority, Reason
from routing.rules import RuleSet, default_rules
from routing.simulations import WhatIf
from workers.callback_calls import NO_SLOT_HOLD_SECONDS

HOURS = 5
RULES = default_rules()
RETRIES = tuple(RULES.callbacks.retry_by_priority.values())
CALLS = 24  # in the first hour, for two handlers on 10-minute calls: waits long enough to offer


def busy_first_hour(answer: float) -> Scenario:
    """One handler, two dozen callers in the first hour who never hang up and all take a
    callback when it is offered; then six more handlers, all free at once, and a quiet floor
    that has the time to make them."""
    return Scenario(
        demand=Demand(
            calls_per_day=CALLS,
            hours=[1.0] + [0.0] * 23,
            day_of_week=dict.fromkeys(WEEKDAYS, 1.0),
            mix=Mix(emergency=0, no_input=0, reasons={Reason.MEDICAL: 1.0}, repeat=0, worse=0),
            patience=Distribution(kind="never"),
            callbacks=CallbackTakeUp(
                accept=1.0, answer=answer, answer_after=Distribution(kind="constant", mean=5)
            ),
        ),
        staffing=Staffing(
            shifts=[
                Shift(name="night", start=time(0), end=time(HOURS + 1), handlers=1),
                Shift(name="early", start=time(1), end=time(HOURS + 1), handlers=6),
            ],
            handle_seconds={"default": Distribution(kind="constant", mean=600)},
            wrap_up_seconds={"default": Distribution(kind="constant", mean=30)},
            answer_after_seconds=Distribution(kind="constant", mean=3),
            misses_offer=0,
        ),
        hours=HOURS,
        seed=3,
    )


def rules(first: str, calls_per_second: float = 1.0) -> RuleSet:
    base = default_rules()
    callbacks = base.callbacks.model_copy(
        update={"first": first, "calls_per_second": calls_per_second}
    )
    return base.model_copy(update={"callbacks": callbacks})


def callback_figures(result: Result) -> dict[str, int]:
    """Lifeline's own callback statistics for the day, over every class."""
    names = ("offered", "accepted", "made", "made_on_time", "unreachable")
    return {name: sum(getattr(row, name) for row in result.days[0].callbacks) for name in names}


@pytest.mark.parametrize("first", ["handler", "patient"])
def test_every_callback_taken_is_made_once(first: str) -> None:
    # A calling slot every 20 s: the placing job puts most calls on the agenda for their slot.
    result = simulate_on_own_redis(busy_first_hour(answer=1.0), rules(first, 0.05))
    figures = callback_figures(result)
    counts = result.counts
    assert result.anomalies == []
    assert figures["accepted"] >= 5, figures
    assert counts["callbacks_asked"] == figures["accepted"]
    # Each made, within its target, by one call: nobody is rung twice.
    assert figures["made"] == figures["accepted"], (figures, counts)
    assert figures["made_on_time"] == figures["made"]
    assert counts["callbacks_placed"] == figures["made"], counts
    assert counts["callbacks_talked"] == figures["made"]
    # Their slots were waited for on the agenda, and the agenda's items were taken when due;
    # each callback waited for its slot once at most: no offer was taken back while waiting.
    assert 0 < counts["connect_waiting for a calling slot"] <= figures["made"], counts


def test_callbacks_with_no_calling_slot_soon_wait_out_of_reach_and_are_all_made() -> None:
    per_second = 0.01  # a slot every 100 s: a free handler more often finds none within 120 s
    result = simulate_on_own_redis(busy_first_hour(answer=1.0), rules("handler", per_second))
    figures = callback_figures(result)
    counts = result.counts
    assert figures["accepted"] >= 5, figures
    assert figures["made"] == figures["accepted"], (figures, counts)
    assert counts["callbacks_placed"] == figures["made"]
    # Each callback, held back a while each time it finds no slot, finds one within the time
    # that the slots of those ahead of it take: a bounded number of tries, not a spin.
    slots_ahead = figures["accepted"] / per_second
    most = figures["accepted"] * slots_ahead / NO_SLOT_HOLD_SECONDS
    assert 0 < counts["connect_no slot"] <= most, (counts, most)


def test_a_patient_who_never_answers_is_tried_as_often_as_the_rules_say_then_left() -> None:
    result = simulate_on_own_redis(busy_first_hour(answer=0.0), rules("handler"))
    figures = callback_figures(result)
    counts = result.counts
    assert figures["accepted"] >= 5, figures
    assert figures["made"] == 0
    assert figures["unreachable"] == figures["accepted"], figures
    # Each rung as many times as its class allows: a callback raised at risk of missing its
    # target (a class up) is counted unreachable in its new class, with that class's attempts.
    policy = default_rules().callbacks.policy
    rung = sum(
        row.unreachable * policy(Priority(row.priority)).attempts
        for row in result.days[0].callbacks
    )
    assert counts["callbacks_placed"] == rung, (counts, result.days[0].callbacks)
    assert counts.get("callbacks_talked", 0) == 0


def test_fewer_attempts_show_as_worse_callbacks_in_the_what_if_comparison() -> None:
    day = busy_first_hour(answer=0.5)
    active = default_rules()
    policy = active.callbacks.retry.model_copy(update={"attempts": 1})
    fewer = active.callbacks.model_copy(update={"retry": policy, "retry_by_priority": {}})
    draft = active.model_copy(update={"callbacks": fewer})
    compared = compare(
        2,
        1,
        WhatIf(hours=HOURS),
        simulate_on_own_redis(day, draft),
        simulate_on_own_redis(day, active),
        active.emergency.handler_limit_seconds,
    )
    rows = {(row.figure, row.priority): row for row in compared.rows}
    unreachable = rows["callbacks_unreachable", 3]
    assert unreachable.draft is not None
    assert unreachable.active is not None
    assert unreachable.draft > unreachable.active
    assert unreachable.worse
    assert rows["callbacks_made", 3].worse


def shifts_changing(seed: int, misses: float) -> Scenario:
    """Three overlapping shifts (handlers signing out with callbacks ringing), a break, repeat
    callers, patients who answer a third of their callbacks."""
    return Scenario(
        demand=Demand(
            calls_per_day=200,
            hours=[1.0] * 3 + [0.0] * 21,
            day_of_week=dict.fromkeys(WEEKDAYS, 1.0),
            mix=Mix(emergency=0.02, no_input=0, reasons={Reason.MEDICAL: 1.0}, repeat=0.3),
            patience=Distribution(kind="exponential", mean=1200),
            callbacks=CallbackTakeUp(
                accept=1.0, answer=0.3, answer_after=Distribution(kind="uniform", low=3, high=20)
            ),
        ),
        staffing=Staffing(
            shifts=[
                Shift(name="a", start=time(0), end=time(1, 30), handlers=3),
                Shift(
                    name="b",
                    start=time(0, 40),
                    end=time(2, 10),
                    handlers=3,
                    breaks=[Break(after_minutes=20, minutes=10, spread_minutes=10)],
                ),
                Shift(name="c", start=time(1, 50), end=time(4), handlers=2),
            ],
            handle_seconds={"default": Distribution(kind="exponential", mean=500)},
            wrap_up_seconds={"default": Distribution(kind="exponential", mean=40)},
            answer_after_seconds=Distribution(kind="uniform", low=2, high=20),
            misses_offer=misses,
        ),
        hours=4,
        seed=seed,
    )


@pytest.mark.parametrize("seed", [3, 5])
def test_no_patient_is_rung_out_more_often_than_their_callbacks_attempts(seed: int) -> None:
    # A ring-out on an offer taken back meanwhile (its handler signing out) still counts as an
    # attempt, found by the next offer asking what became of the last call (Twilio keeps an
    # ended call: a network that forgot it let the patient be rung again at once, uncounted).
    result = simulate_on_own_redis(shifts_changing(seed, misses=0.0), rules("patient"))
    most = max(policy.attempts for policy in (RULES.callbacks.retry, *RETRIES))
    assert result.counts["callbacks_placed"] > 50
    assert 0 < result.counts["most_rung_out_for_one_callback"] <= most, result.counts


def test_handlers_who_miss_offers_in_a_row_come_back_and_answer_again() -> None:
    # Two misses in a row put a handler on a break they end themselves (routing/offers.py);
    # modelled handlers do, a couple of minutes later, so the floor keeps its capacity.
    scenario = busy_first_hour(answer=1.0)
    two = [Shift(name="all", start=time(0), end=time(HOURS + 1), handlers=2)]
    staffing = scenario.staffing.model_copy(update={"shifts": two, "misses_offer": 0.5})
    result = simulate_on_own_redis(scenario.model_copy(update={"staffing": staffing}))
    figures = callback_figures(result)
    assert figures["made"] == figures["accepted"], (figures, result.counts)
