"""What a simulation is run from, each a YAML file (docs/SIMULATOR.md describes them): the demand
(how many call, when, what they answer, how long they wait), the staffing (the rota, handle and
wrap-up times) and the events (an outage of the clinical system, a rule set activated)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lifeline.simulation.recorded import RecordedCall
from routing.figures import LONDON
from routing.models import Reason
from routing.rules import RuleSet, RuleSetError, parse_rules

PROFILES = Path(__file__).parent / "profiles"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# REFERENCE.md: the day-of-week factor of NHS 111 demand.
DAY_OF_WEEK = {
    "mon": 1.01,
    "tue": 0.88,
    "wed": 0.85,
    "thu": 0.85,
    "fri": 0.93,
    "sat": 1.33,
    "sun": 1.14,
}

M = TypeVar("M", bound=BaseModel)

Share = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Distribution(Strict):
    """A random duration in seconds: `constant` (`mean`), `exponential` (`mean`), `lognormal`
    (`mean` and `sd` of the durations themselves), `uniform` (`low` to `high`), or `never`
    (infinite: a caller who never hangs up)."""

    kind: Literal["constant", "exponential", "lognormal", "uniform", "never"]
    mean: Annotated[float, Field(ge=0)] = 0.0
    sd: Annotated[float, Field(ge=0)] = 0.0
    low: Annotated[float, Field(ge=0)] = 0.0
    high: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _complete(self) -> Distribution:
        if self.kind in ("exponential", "lognormal") and self.mean <= 0:
            raise ValueError(f"a {self.kind} distribution needs a mean above 0")
        if self.kind == "lognormal" and self.sd <= 0:
            raise ValueError("a lognormal distribution needs an sd above 0")
        if self.kind == "uniform" and self.high < self.low:
            raise ValueError("a uniform distribution needs low <= high")
        return self

    def expected(self) -> float:
        """The mean duration (infinite for `never`)."""
        match self.kind:
            case "uniform":
                return (self.low + self.high) / 2
            case "never":
                return math.inf
            case _:
                return self.mean

    def sample(self, rng: random.Random) -> float:
        match self.kind:
            case "constant":
                return self.mean
            case "exponential":
                return rng.expovariate(1.0 / self.mean)
            case "lognormal":
                sigma2 = math.log(1.0 + (self.sd / self.mean) ** 2)
                return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))
            case "uniform":
                return rng.uniform(self.low, self.high)
            case "never":
                return math.inf


def seconds(kind: Literal["constant", "exponential"], mean: float) -> Distribution:
    return Distribution(kind=kind, mean=mean)


class Mix(Strict):
    """What callers answer: shares of all calls (`emergency`, `no_input` at the emergency
    screen), the reasons of the rest (weights), and of callers on a Welsh line, who choose
    Welsh."""

    emergency: Share = 0.02
    no_input: Share = 0.01
    reasons: dict[Reason, Annotated[float, Field(ge=0)]] = {
        Reason.MEDICAL: 0.78,
        Reason.MENTAL_HEALTH: 0.03,
        Reason.DENTAL: 0.06,
        Reason.MEDICINES: 0.06,
        Reason.EXISTING_CASE: 0.07,
    }
    welsh_line: Share = 0.0  # of calls, on a Welsh line
    welsh: Share = 0.016  # of those, answered in Welsh (REFERENCE: ~1.5-1.7%)
    repeat: Share = 0.05  # callers who called earlier (the same number, recognised)
    worse: Share = 0.3  # of repeat callers and existing cases, who say they are worse

    @model_validator(mode="after")
    def _adds_up(self) -> Mix:
        if self.emergency + self.no_input > 1:
            raise ValueError("emergency and no_input are shares of all calls: at most 1 together")
        if not self.reasons or sum(self.reasons.values()) <= 0:
            raise ValueError("reasons needs at least one reason with a weight above 0")
        return self


class Shock(Strict):
    """Demand times `factor` on day `day` (1 is the first), from `from_hour` to `to_hour`."""

    day: Annotated[int, Field(ge=1)]
    factor: Annotated[float, Field(gt=0, le=20)]
    from_hour: Annotated[int, Field(ge=0, le=23)] = 0
    to_hour: Annotated[int, Field(ge=1, le=24)] = 24

    @model_validator(mode="after")
    def _some_hours(self) -> Shock:
        if self.to_hour <= self.from_hour:
            raise ValueError("a shock's to_hour comes after its from_hour")
        return self


class CallbackTakeUp(Strict):
    """Callers and the callbacks the wait loop offers them: the share who `accept` one when it
    is offered, the share of a callback's rings the patient `answer`s (the rest ring out, and
    the rules' retries follow), and how long the phone rings before they do (`answer_after`)."""

    accept: Share = 0.3
    answer: Share = 0.85
    answer_after: Distribution = Distribution(kind="uniform", low=4, high=15)


class Demand(Strict):
    """How many call and when: `calls_per_day` on a mean day, shared over the hours by
    `hours` (24 weights, midnight first, in London time), times the day of the week's factor
    and `factor` (x1.6, x3.5 for a shock), and any `shocks`; what callers answer (`mix`), how
    long they wait (`patience`), and how they take the callbacks offered (`callbacks`)."""

    name: str = "demand"
    calls_per_day: Annotated[float, Field(ge=0, le=500_000)]
    hours: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]
    day_of_week: dict[str, Annotated[float, Field(ge=0)]] = DAY_OF_WEEK
    factor: Annotated[float, Field(gt=0, le=20)] = 1.0
    shocks: list[Shock] = []
    mix: Mix = Mix()
    patience: Distribution = Distribution(kind="exponential", mean=600)
    callbacks: CallbackTakeUp = CallbackTakeUp()

    @field_validator("day_of_week")
    @classmethod
    def _weekdays(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown days {sorted(unknown)}: use {', '.join(WEEKDAYS)}")
        return {day: value.get(day, 1.0) for day in WEEKDAYS}

    @field_validator("hours")
    @classmethod
    def _some_hour(cls, value: list[float]) -> list[float]:
        if sum(value) <= 0:
            raise ValueError("hours needs a weight above 0 somewhere")
        return value

    def rate(self, day: int, weekday: int, hour: int) -> float:
        """Calls per second in `hour` of day `day` (1 first; `weekday` 0 is Monday)."""
        share = self.hours[hour] / sum(self.hours)
        shock = math.prod(
            s.factor for s in self.shocks if s.day == day and s.from_hour <= hour < s.to_hour
        )
        daily = self.calls_per_day * self.day_of_week[WEEKDAYS[weekday]] * self.factor * shock
        return daily * share / 3600.0


class Break(Strict):
    """`minutes` off, starting `after_minutes` into the shift; the handlers of a shift take it
    in turn, spread over `spread_minutes`, so that the floor is never emptied at once."""

    after_minutes: Annotated[int, Field(ge=0)]
    minutes: Annotated[int, Field(ge=1, le=240)]
    spread_minutes: Annotated[int, Field(ge=0)] = 60


class Shift(Strict):
    """`handlers` people from `start` to `end` (London time; an end before the start runs into
    the next day), with `skills` and their proficiency (1 to 5), on `days` (every day if empty)."""

    name: str
    start: time
    end: time
    handlers: Annotated[int, Field(ge=0, le=5000)]
    skills: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    breaks: list[Break] = []
    days: list[str] = []

    @field_validator("days")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown days {sorted(unknown)}: use {', '.join(WEEKDAYS)}")
        return value


class Staffing(Strict):
    """Who answers: the rota, how long a call and its wrap-up take per reason (`default` for
    the rest), how long a handler's phone rings before they answer, and the chance that they
    miss an offer altogether."""

    name: str = "staffing"
    shifts: list[Shift]
    handle_seconds: dict[str, Distribution] = {
        "default": Distribution(kind="lognormal", mean=540, sd=240)
    }
    wrap_up_seconds: dict[str, Distribution] = {"default": seconds("exponential", 45)}
    answer_after_seconds: Distribution = Distribution(kind="uniform", low=2, high=6)
    misses_offer: Share = 0.02

    @model_validator(mode="after")
    def _defaults(self) -> Staffing:
        for name, table in (
            ("handle_seconds", self.handle_seconds),
            ("wrap_up", self.wrap_up_seconds),
        ):
            if "default" not in table:
                raise ValueError(f"{name} needs a `default`")
            unknown = set(table) - {"default", "emergency", *Reason}
            if unknown:
                raise ValueError(f"{name}: unknown reasons {sorted(unknown)}")
            endless = sorted(reason for reason, d in table.items() if d.kind == "never")
            if endless:
                raise ValueError(f"{name}: a call ends: `never` cannot be a time of {endless}")
        instant = sorted(
            reason
            for reason, d in self.handle_seconds.items()
            if d.expected() + self.wrap_up(reason).expected() <= 0
        )
        if instant:
            raise ValueError(f"handle_seconds: a call takes some time: {instant} average 0 s")
        return self

    def skills_unknown_to(self, rule_sets: Iterable[RuleSet]) -> list[str]:
        """The rota's skills that none of `rule_sets` declares or asks of a queue (a typo
        routes nobody to its handlers)."""
        known = set()
        for rules in rule_sets:
            known |= set(rules.skills)
            known |= {skill for queue in rules.queues.values() for skill in queue.skills}
        return sorted({skill for shift in self.shifts for skill in shift.skills} - known)

    def handle(self, reason: str) -> Distribution:
        return self.handle_seconds.get(reason, self.handle_seconds["default"])

    def wrap_up(self, reason: str) -> Distribution:
        return self.wrap_up_seconds.get(reason, self.wrap_up_seconds["default"])


class Outage(Strict):
    """The clinical system down on day `day` from `start` to `end` (London time)."""

    day: Annotated[int, Field(ge=1)] = 1
    start: time
    end: time

    @model_validator(mode="after")
    def _some_time(self) -> Outage:
        if self.start == self.end:
            raise ValueError(
                "an outage ends after it starts (an end before it runs into the next day)"
            )
        return self


class Activation(Strict):
    """The rule set in file `rules` (as `lifeline rules` takes it) activated on `day` at `at`."""

    day: Annotated[int, Field(ge=1)] = 1
    at: time
    rules: str


class Events(Strict):
    outages: list[Outage] = []
    activations: list[Activation] = []


class Timing(Strict):
    """How long the phone network takes (seconds): each prompt spoken, a caller pressing a key
    after a question, a job picking up an offer and the redirect reaching the call, and the
    whisper to a handler. Zero everywhere is a network that takes no time (the oracle tests)."""

    prompt: Annotated[float, Field(ge=0)] = 3.0
    keypress: Annotated[float, Field(ge=0)] = 2.0
    gather_timeout: Annotated[float, Field(ge=0)] = 5.0
    job: Annotated[float, Field(ge=0)] = 0.3
    whisper: Annotated[float, Field(ge=0)] = 3.0
    dispatch_call: Annotated[float, Field(ge=0)] = (
        300.0  # how long a call on the dispatch line lasts
    )


class Scenario(Strict):
    """A whole run: its inputs, the first day (London), how many days, and the seed."""

    demand: Demand
    staffing: Staffing
    events: Events = Events()
    timing: Timing = Timing()
    start: Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))] = date(2026, 1, 5)
    days: Annotated[int, Field(ge=1, le=31)] = 1
    hours: Annotated[int, Field(ge=1, le=24)] = 24  # of the last day: the run ends then
    seed: int = 1
    # A recorded day's calls (lifeline.simulation.recorded), replayed on the first day instead
    # of the demand's arrivals; empty: the demand's.
    recorded: list[RecordedCall] = []

    @model_validator(mode="after")
    def _one_recorded_day(self) -> Scenario:
        if self.recorded and self.days != 1:
            raise ValueError("a recorded day is replayed on its own: days must be 1")
        past = [
            f"{what} on day {day}"
            for what, day in (
                *(("an outage", o.day) for o in self.events.outages),
                *(("an activation", a.day) for a in self.events.activations),
                *(("a shock", shock.day) for shock in self.demand.shocks),
            )
            if day > self.days
        ]
        if past:
            days = f"{self.days} day{'s' if self.days > 1 else ''}"
            raise ValueError(f"{', '.join(past)}: the run has {days} (--days)")
        return self

    def midnight(self, day: int) -> float:
        """Local midnight starting day `day` (1 is the first), as epoch seconds."""
        when = self.start + timedelta(days=day - 1)
        return datetime.combine(when, time(0), tzinfo=LONDON).timestamp()

    def at(self, day: int, clock: time) -> float:
        when = self.start + timedelta(days=day - 1)
        return datetime.combine(when, clock, tzinfo=LONDON).timestamp()

    @property
    def end(self) -> float:
        return self.midnight(self.days) + self.hours * 3600

    def day_end(self, day: int) -> float:
        return min(self.midnight(day + 1), self.end)

    def hours_of(self, day: int) -> list[tuple[float, int]]:
        """Each hour of day `day` that the run covers: when it starts, and its hour on London's
        clock (23 of them the day the clocks go forward, 25 the day they go back)."""
        midnight, end = self.midnight(day), self.day_end(day)
        count = math.ceil((end - midnight) / 3600 - 1e-9)
        starts = [midnight + i * 3600 for i in range(count)]
        return [(at, datetime.fromtimestamp(at, LONDON).hour) for at in starts]

    def activations(self) -> list[tuple[Activation, str]]:
        """Each activation with its rule set's text, checked: ValueError naming the file."""
        checked = []
        for activation in self.events.activations:
            try:
                document = Path(activation.rules).read_text()
                parse_rules(document)
            except (OSError, RuleSetError) as error:
                raise ValueError(
                    f"activation at {activation.at}: {activation.rules}: {error}"
                ) from None
            checked.append((activation, document))
        return checked


def load_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (UTF-8)") from None


def packaged(name: str) -> Path:
    return PROFILES / name


def read(model: type[M], path: Path, empty_ok: bool = False) -> M:
    """A file of one of the formats above; ValueError naming the file and what is wrong. An
    empty file is one with no entries where `empty_ok` (events: none)."""
    try:
        loaded = load_yaml(path)
        return model.model_validate({} if loaded is None and empty_ok else loaded)
    except ValidationError as error:
        raise ValueError(f"{path}: {problems(error, 'the file')}") from None


def problems(error: ValidationError, whole: str) -> str:
    """Each problem on one line: where (`whole` for the whole input) and what."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or whole}: {e['msg']}" for e in error.errors()
    )


DEFAULT_DEMAND = "contract-area.demand.yaml"
DEFAULT_STAFFING = "contract-area.staffing.yaml"


def scenario_from(
    demand: Path | None = None,
    staffing: Path | None = None,
    events: Path | None = None,
    **options: object,
) -> Scenario:
    """A scenario from files (the packaged contract-area profile where none is given);
    ValueError saying what is wrong, in a line."""
    try:
        return Scenario.model_validate(
            {
                "demand": read(Demand, demand or packaged(DEFAULT_DEMAND)),
                "staffing": read(Staffing, staffing or packaged(DEFAULT_STAFFING)),
                "events": read(Events, events, empty_ok=True) if events else Events(),
            }
            | {name: value for name, value in options.items() if value is not None}
        )
    except ValidationError as error:
        raise ValueError(problems(error, "the run")) from None
