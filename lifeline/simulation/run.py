"""A simulated run: a floor of Lifeline's own on a Redis of its own, the modelled world around
it (lifeline.simulation.world) driven through the scenario's days, and the figures Lifeline's
statistics kept, read back hour by hour and day by day."""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import cast

from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis

from config.settings import Settings
from lifeline.redis_server import RedisServer
from lifeline.simulation.inputs import WEEKDAYS, Scenario, Shift
from lifeline.simulation.recorded import RecordedCall, key_for
from lifeline.simulation.world import (
    HEARTBEAT_SECONDS,
    SWEEP_SECONDS,
    Caller,
    World,
    handler_profile,
)
from routing import keys
from routing.activation import activate_rule_set
from routing.clock import VirtualClock
from routing.decisions import Step
from routing.figures import (
    ENDED,
    CallbackFigures,
    Measures,
    Report,
    Window,
    callback_figures,
    parse,
    report,
)
from routing.handlers import HandlerState
from routing.mode import Mode
from routing.rules import RuleSet, default_rules, parse_rules

MAIN_LINE = "+441000000111"
WELSH_LINE = "+441000000222"
DISPATCH = "+441000000999"


class Hour(BaseModel):
    """One hour's figures (Lifeline's statistics), with the rota and the handlers' talk."""

    hour: int  # of London's clock (twice on the day the clocks go back)
    since: float
    total: Measures
    by_queue: list[dict[str, object]]
    waited: int  # calls whose wait ended (answered, abandoned...) after any wait at all
    ended: int  # calls whose wait ended
    handlers_on_duty: float  # the mean number signed in (on a break too), as Lifeline had them
    occupancy: float | None  # handling (offered, talking, wrapping up) / handling or available


class Day(BaseModel):
    day: int
    date: str
    weekday: str
    report: Report
    hours: list[Hour]
    callbacks: list[CallbackFigures]  # Lifeline's own, per priority class


class Result(BaseModel):
    """Everything a run produced: per day and hour, Lifeline's own figures; and the model's."""

    name: str
    seed: int
    days: list[Day]
    counts: dict[str, int]
    anomalies: list[str]
    simulated_seconds: float
    wall_seconds: float

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.simulated_seconds / self.wall_seconds if self.wall_seconds else math.inf


def sim_settings(redis_url: str) -> Settings:
    """Settings for the simulation's own floor: nothing in them reaches the outside world."""
    return Settings(
        redis_url=redis_url,
        public_base_url="https://simulation.invalid",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=SecretStr("simulation"),
        clinical_fhir_base_url="https://clinical.invalid/fhir",
        ambulance_dispatch_number=DISPATCH,
        welsh_line_numbers=(WELSH_LINE,),
    )


Progress = Callable[[float], None]  # the share of the run done, 0 to 1


async def simulate(
    scenario: Scenario,
    redis_url: str,
    rules: RuleSet | None = None,
    progress: Progress | None = None,
) -> Result:
    """Run `scenario` on the (empty, own) Redis at `redis_url`, under `rules` (the packaged
    default if None)."""
    started = time.perf_counter()
    # One connection, no timeouts: nothing else uses this Redis, and events run one at a time.
    client = Redis.from_url(redis_url, decode_responses=True, single_connection_client=True)
    try:
        await client.flushdb()
        clock = VirtualClock(scenario.midnight(1))
        rng = random.Random(scenario.seed)
        world = _world(scenario, client, clock, rng, rules or default_rules())
        await world.floor.rulebook.seed(clock.now())
        _plan(world)
        days = []
        begin, end = scenario.midnight(1), scenario.end

        def moved(now: float) -> None:
            if progress is not None:
                progress(min(1.0, (now - begin) / (end - begin)))

        for day in range(1, scenario.days + 1):
            await world.engine.run(scenario.day_end(day) - 1e-6, moved)
            days.append(await _day_figures(world, day))
        moved(end)
    finally:
        await client.aclose()
    return Result(
        name=f"{scenario.demand.name} / {scenario.staffing.name}",
        seed=scenario.seed,
        days=days,
        counts=dict(world.seen.counts)
        | {
            "cases_sent": world.seen.cases_sent,
            "most_calls_for_one_callback": max(world.seen.calls_for.values(), default=0),
            "most_rung_out_for_one_callback": max(world.seen.rang_out_for.values(), default=0),
        },
        anomalies=world.seen.anomalies,
        simulated_seconds=scenario.end - scenario.midnight(1),
        wall_seconds=time.perf_counter() - started,
    )


def simulate_on_own_redis(
    scenario: Scenario, rules: RuleSet | None = None, progress: Progress | None = None
) -> Result:
    """`simulate` on an embedded `redis-server` started for the run and stopped after it."""
    import asyncio

    scenario.activations()  # a rule set file that cannot be read fails now, not mid-run
    with tempfile.TemporaryDirectory(prefix="lifeline-sim-") as directory, quiet():
        server = RedisServer(Path(directory), durable=False)
        server.start()
        try:
            return asyncio.run(simulate(scenario, server.url, rules, progress))
        finally:
            server.stop()


@contextmanager
def quiet() -> Iterator[None]:
    """The simulated calls' routine lines (queued, answered, ended...) stay out of the process's
    log, where they would read as real calls: only errors get through while a run lasts."""
    loggers = [logging.getLogger(name) for name in ("routing", "workers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _world(
    scenario: Scenario, client: Redis, clock: VirtualClock, rng: random.Random, rules: RuleSet
) -> World:
    kwargs = client.connection_pool.connection_kwargs
    url = f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"
    return World(scenario, client, sim_settings(url), rules, clock, rng)


def _plan(world: World) -> None:
    """Everything the scenario fixes in advance: arrivals (hour by hour), the rota, heartbeats
    and sweeps, and the events."""
    scenario = world.scenario
    engine = world.engine
    begin, end = scenario.midnight(1), scenario.end
    for recorded in scenario.recorded:
        caller = _recorded_caller(world, recorded)
        engine.at(scenario.midnight(1) + recorded.started, world.call_in, caller)
    for day in range(1, scenario.days + 1):
        weekday = (scenario.start + timedelta(days=day - 1)).weekday()
        for since, hour in [] if scenario.recorded else scenario.hours_of(day):
            engine.at(since, _arrivals, world, day, weekday, hour, since)
    for day in range(0, scenario.days + 1):
        weekday = (scenario.start + timedelta(days=day - 1)).weekday()
        for shift in scenario.staffing.shifts:
            if shift.days and WEEKDAYS[weekday] not in shift.days:
                continue
            _rota(world, shift, scenario, day, begin, end)
    engine.every(HEARTBEAT_SECONDS, end, world.heartbeats)
    engine.every(SWEEP_SECONDS, end, world.sweep)
    for activation, document in scenario.activations():
        engine.at(scenario.at(activation.day, activation.at), _activate, world, document)
    for outage in scenario.events.outages:
        down = scenario.at(outage.day, outage.start)
        up = scenario.at(outage.day, outage.end)
        up = up if up > down else up + 86400
        engine.at(down, _mode, world, Mode.DEGRADED, "clinical system down (simulated)")
        engine.at(up, _mode, world, Mode.NORMAL, "clinical system back (simulated)")


def _rota(
    world: World, shift: Shift, scenario: Scenario, day: int, begin: float, end: float
) -> None:
    """The shift's handlers on day `day` (0, the day before the first: a night shift running
    into it), within the run from `begin` to `end`; its times are London's clock, whatever the
    day's length when the clocks change."""
    start = scenario.at(day, shift.start)
    finish = scenario.at(day if shift.end > shift.start else day + 1, shift.end)
    if finish <= begin or start >= end:
        return
    for i in range(shift.handlers):
        handler_id = f"{shift.name}-{i + 1}"
        profile = handler_profile(handler_id, dict(shift.skills))
        world.engine.at(max(start, begin), world.sign_in, profile)
        if finish < end:
            world.engine.at(finish, world.sign_out, handler_id)
        for pause in shift.breaks:
            offset = pause.spread_minutes * 60 * (i / max(1, shift.handlers))
            at = start + pause.after_minutes * 60 + offset
            if begin <= at < min(end, finish):
                world.engine.at(at, world.take_break, handler_id, pause.minutes)


async def _arrivals(world: World, day: int, weekday: int, hour: int, since: float) -> None:
    """This hour's callers, a Poisson process at the hour's rate, each scheduled to call."""
    rate = world.scenario.demand.rate(day, weekday, hour)
    if rate <= 0:
        return
    rng = world.rng
    at = since + rng.expovariate(rate)
    while at < since + 3600:
        caller = _caller(world)
        world.engine.at(at, world.call_in, caller)
        at += rng.expovariate(rate)


# A caller who calls again with a callback still to come keeps it; one who takes a callback
# offered in the wait confirms the number they call from.
CALLBACK_KEYS = {
    Step.CALLBACK_EXISTING.value: key_for(Step.CALLBACK_EXISTING, "keep"),
    Step.CALLBACK_CONFIRM.value: key_for(Step.CALLBACK_CONFIRM, "confirm"),
}


def _caller(world: World) -> Caller:
    mix = world.scenario.demand.mix
    rng = world.rng
    keys_ = CALLBACK_KEYS | {"language": "2", "worse": "2"}
    line = MAIN_LINE
    if rng.random() < mix.welsh_line:
        line = WELSH_LINE
        if rng.random() < mix.welsh:
            keys_["language"] = "1"
    draw = rng.random()
    reasons, weights = zip(*mix.reasons.items(), strict=True)
    reason = rng.choices(reasons, weights)[0]
    if draw < mix.emergency:
        keys_["emergency"] = "1"
        reason_name = "emergency"
    elif draw < mix.emergency + mix.no_input:
        keys_["emergency"] = ""
        reason_name = "unknown"
    else:
        keys_["emergency"] = "2"
        keys_["reason"] = key_for(Step.REASON, reason)
        reason_name = reason.value
    if rng.random() < mix.worse:
        keys_["worse"] = "1"
    return world.new_caller(line, keys_, reason_name)


def _recorded_caller(world: World, recorded: RecordedCall) -> Caller:
    line = WELSH_LINE if recorded.welsh_line else MAIN_LINE
    keys_ = CALLBACK_KEYS | recorded.keys
    return world.new_caller(line, keys_, recorded.reason, recorded=True)


async def _mode(world: World, mode: Mode, reason: str) -> None:
    await world.floor.modes.set_auto(mode, reason, world.clock.now())


async def _activate(world: World, document: str) -> None:
    floor = world.floor
    rules = parse_rules(document)
    info = await floor.rulebook.store(rules, "simulation", world.clock.now(), "what-if")
    version = await floor.rulebook.get(info.number)
    await activate_rule_set(floor, version, "simulation", "scheduled in the scenario", {})


HANDLING = (HandlerState.RESERVED, HandlerState.BUSY, HandlerState.WRAP_UP)


async def _day_figures(world: World, day: int) -> Day:
    scenario = world.scenario
    midnight = scenario.midnight(day)
    following = scenario.day_end(day)
    members = await world.floor.redis.zrangebyscore(keys.STATS_SAMPLES, midnight, following - 1e-3)
    samples = parse(cast(list[str], members))
    hours = []
    for since, hour in scenario.hours_of(day):
        upto = min(since + 3600, following)
        within = [s for s in samples if since <= s.at < upto]
        ended = [s for s in within if s.kind in ENDED]
        made = report(Window.LAST_HOUR, since + 3600 - 1e-3, within)
        states = world.seen.state_seconds.get(int(since // 3600), {})
        handling = sum(states.get(state, 0.0) for state in HANDLING)
        working = handling + states.get(HandlerState.AVAILABLE, 0.0)
        signed_in = sum(v for state, v in states.items() if state is not HandlerState.OFFLINE)
        hours.append(
            Hour(
                hour=hour,
                since=since,
                total=made.total,
                by_queue=[row.model_dump() for row in made.figures],
                waited=sum(s.value > 0 for s in ended),
                ended=len(ended),
                handlers_on_duty=signed_in / 3600,
                occupancy=handling / working if working else None,
            )
        )
    date = scenario.start + timedelta(days=day - 1)
    return Day(
        day=day,
        date=date.isoformat(),
        weekday=WEEKDAYS[date.weekday()],
        report=report(Window.TODAY, following - 1e-3, samples),
        hours=hours,
        callbacks=callback_figures(Window.TODAY, following - 1e-3, samples),
    )
