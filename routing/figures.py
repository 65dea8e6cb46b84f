"""The statistics' figures: what each one means (README.md "Statistics") and how it is computed
from the samples of a window. Pure: `routing.stats` reads the samples."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from routing.models import Priority

LONDON = ZoneInfo("Europe/London")
ANSWERED_WITHIN_SECONDS = 60  # NHS 111 MDS: answered within 60 s (REFERENCE: 95% of them)
ABANDONED_AFTER_SECONDS = 30  # NHS 111 MDS: only callers who waited longer count as abandoned
PERCENTILE = 95
CALLBACKS = "callbacks"  # the pseudo-queue that callback events are counted under
LINE = ""  # the pseudo-queue of events before any queue: calls terminated in the IVR


class Kind(StrEnum):
    """What a sample counts. A call's wait ends once, as answered, abandoned, dispatched or
    diverted; callback events (under `CALLBACKS`) are named as in `CallbackFigures`."""

    OFFERED = "offered"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    DISPATCHED = "dispatched"
    DIVERTED = "diverted"
    TERMINATED = "terminated"


REACHED = frozenset({Kind.ANSWERED, Kind.DISPATCHED})  # priority 1: a handler or the dispatch line
ENDED = frozenset({Kind.ANSWERED, Kind.ABANDONED, Kind.DISPATCHED, Kind.DIVERTED})


class Window(StrEnum):
    LAST_15_MINUTES = "15m"
    LAST_HOUR = "1h"
    TODAY = "today"


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # when it happened, on Lifeline's clock
    kind: str
    queue: str
    priority: int
    value: float  # a wait in seconds, or 1 for an event that is only counted
    subject: str  # the CallSid or callback id


def parse(members: Iterable[str]) -> list[Sample]:
    """Samples from their members, `time|kind|queue|priority|value|subject`; malformed ones
    are left out."""
    samples = []
    for member in members:
        parts = member.split("|", 5)
        if len(parts) == 6:
            at, kind, queue, priority, value, subject = parts
            try:
                samples.append(Sample(float(at), kind, queue, int(priority), float(value), subject))
            except ValueError:
                continue
    return samples


def local_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, LONDON)
    midnight = datetime(local.year, local.month, local.day, tzinfo=LONDON)
    return midnight.timestamp()


def window_start(window: Window, now: float) -> float:
    match window:
        case Window.LAST_15_MINUTES:
            return now - 15 * 60
        case Window.LAST_HOUR:
            return now - 3600
        case Window.TODAY:
            return local_midnight(now)


def nearest_rank(ordered: Sequence[float], percent: int = PERCENTILE) -> float | None:
    """The `percent`th percentile by nearest rank: of the n values in ascending order, the
    ceil(percent * n / 100)th; at 95, the largest of fewer than 20 values."""
    if not ordered:
        return None
    return ordered[-(-percent * len(ordered) // 100) - 1]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Measures(BaseModel):
    """The figures of a window. Each event counts in the window it happened in; waits are
    seconds from entering the queue (after the IVR questions). Shares and times are null when
    there is nothing to measure."""

    offered: Annotated[int, Field(description="Calls that entered the queue, once each")] = 0
    answered: Annotated[int, Field(description="Calls answered by a handler")] = 0
    answered_within_60s: Annotated[
        int, Field(description="Answered calls that waited 60 s or less")
    ] = 0
    service_level: Annotated[
        float | None,
        Field(description="answered_within_60s / answered (NHS 111 MDS): 0 to 1"),
    ] = None
    average_speed_of_answer: Annotated[
        float | None, Field(description="Mean wait of the answered calls, seconds")
    ] = None
    answer_p95: Annotated[
        float | None,
        Field(description="95th percentile of the answered calls' waits (nearest rank), seconds"),
    ] = None
    abandoned: Annotated[
        int,
        Field(
            description="Callers who hung up after entering the queue (waiting, or while being "
            "offered to a handler), however short the wait (NHS Wales: abandoned)"
        ),
    ] = 0
    abandoned_after_30s: Annotated[
        int, Field(description="Abandoned after waiting more than 30 s (NHS 111 MDS: abandoned)")
    ] = 0
    abandoned_after_30s_rate: Annotated[
        float | None, Field(description="abandoned_after_30s / offered (NHS 111 MDS): 0 to 1")
    ] = None
    dispatched: Annotated[
        int, Field(description="Priority-1 calls sent to the ambulance dispatch line")
    ] = 0
    diverted: Annotated[
        int, Field(description="Calls sent to another service's number (overflow, closed hours)")
    ] = 0
    longest_wait: Annotated[
        float | None,
        Field(description="Longest wait that ended (answered, abandoned, dispatched, diverted)"),
    ] = None
    p1_reached: Annotated[
        int,
        Field(description="Priority 1: calls answered by a handler or sent to the dispatch line"),
    ] = 0
    p1_reached_within_60s: Annotated[
        int, Field(description="Priority 1: reached after 60 s or less")
    ] = 0
    p1_reached_within_60s_rate: Annotated[
        float | None, Field(description="Priority 1: p1_reached_within_60s / p1_reached, 0 to 1")
    ] = None
    p1_average_time_to_reach: Annotated[
        float | None, Field(description="Priority 1: mean time to reach, seconds")
    ] = None
    p1_p95_time_to_reach: Annotated[
        float | None,
        Field(description="Priority 1: 95th percentile of time to reach (nearest rank), seconds"),
    ] = None
    p1_longest_time_to_reach: Annotated[
        float | None, Field(description="Priority 1: longest time to reach, seconds")
    ] = None


class Figures(Measures):
    """One queue and the priority class calls had when they first entered it."""

    queue: str
    priority: int


class Report(BaseModel):
    """Every queue and class over a window [since, until], both ends included."""

    window: Window
    since: Annotated[float, Field(description="Start of the window, seconds since the epoch")]
    until: Annotated[float, Field(description="End of the window: now")]
    terminated: Annotated[
        int,
        Field(
            description="Calls that ended in the IVR, before entering a queue (NHS Wales: "
            "terminated): callers who hung up during the questions, or were told their callback "
            "stands; in no queue's figures, never counted as abandoned"
        ),
    ]
    total: Annotated[Measures, Field(description="All queues and classes together")]
    figures: list[Figures]


class CallbackFigures(BaseModel):
    """Callbacks of one priority class over a window; each event counts once per callback."""

    priority: int
    offered: Annotated[
        int, Field(description="Callers offered a callback in the hold loop (once per call)")
    ] = 0
    accepted: Annotated[int, Field(description="Callbacks booked")] = 0
    made: Annotated[int, Field(description="Callbacks that reached the patient")] = 0
    made_on_time: Annotated[
        int, Field(description="Made by their class's target, timed from booking")
    ] = 0
    unreachable: Annotated[int, Field(description="Every attempt failed: left for a clinician")] = 0
    cancelled: Annotated[int, Field(description="Cancelled by the caller or a supervisor")] = 0
    on_time_rate: Annotated[float | None, Field(description="made_on_time / made, 0 to 1")] = None


@dataclass
class Tally:
    """What the figures of some samples are computed from."""

    counted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    reached: list[float] = field(default_factory=list)  # priority 1, answered or dispatched

    def add(self, sample: Sample) -> None:
        self.counted[sample.kind] += 1
        if sample.kind in ENDED:
            self.waits[sample.kind].append(sample.value)
            if sample.priority == Priority.EMERGENCY and sample.kind in REACHED:
                self.reached.append(sample.value)

    def measures(self) -> Measures:
        answered = sorted(self.waits[Kind.ANSWERED])
        reached = sorted(self.reached)
        offered = self.counted[Kind.OFFERED]
        within = sum(wait <= ANSWERED_WITHIN_SECONDS for wait in answered)
        after_30s = sum(wait > ABANDONED_AFTER_SECONDS for wait in self.waits[Kind.ABANDONED])
        reached_within = sum(wait <= ANSWERED_WITHIN_SECONDS for wait in reached)
        return Measures(
            offered=offered,
            answered=len(answered),
            answered_within_60s=within,
            service_level=share(within, len(answered)),
            average_speed_of_answer=sum(answered) / len(answered) if answered else None,
            answer_p95=nearest_rank(answered),
            abandoned=self.counted[Kind.ABANDONED],
            abandoned_after_30s=after_30s,
            abandoned_after_30s_rate=share(after_30s, offered),
            dispatched=self.counted[Kind.DISPATCHED],
            diverted=self.counted[Kind.DIVERTED],
            longest_wait=max((w for kind in ENDED for w in self.waits[kind]), default=None),
            p1_reached=len(reached),
            p1_reached_within_60s=reached_within,
            p1_reached_within_60s_rate=share(reached_within, len(reached)),
            p1_average_time_to_reach=sum(reached) / len(reached) if reached else None,
            p1_p95_time_to_reach=nearest_rank(reached),
            p1_longest_time_to_reach=reached[-1] if reached else None,
        )


def report(window: Window, now: float, samples: Iterable[Sample]) -> Report:
    """The figures of `window` ending `now`: of the samples, those from its start to `now`, both
    included."""
    since = window_start(window, now)
    total, terminated = Tally(), 0
    rows: defaultdict[tuple[str, int], Tally] = defaultdict(Tally)
    for sample in samples:
        if not since <= sample.at <= now or sample.queue == CALLBACKS:
            continue
        if sample.queue == LINE:
            terminated += sample.kind == Kind.TERMINATED
            continue
        total.add(sample)
        rows[(sample.queue, sample.priority)].add(sample)
    return Report(
        window=window,
        since=since,
        until=now,
        terminated=terminated,
        total=total.measures(),
        figures=[
            Figures(queue=queue, priority=priority, **dict(rows[(queue, priority)].measures()))
            for queue, priority in sorted(rows)
        ],
    )


def callback_figures(
    window: Window, now: float, samples: Iterable[Sample]
) -> list[CallbackFigures]:
    since = window_start(window, now)
    counted: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample in samples:
        if sample.queue == CALLBACKS and since <= sample.at <= now:
            counted[sample.priority][sample.kind] += 1
    return [
        CallbackFigures(
            priority=priority,
            offered=events["offered"],
            accepted=events["accepted"],
            made=events["made"],
            made_on_time=events["made_on_time"],
            unreachable=events["unreachable"],
            cancelled=events["cancelled"],
            on_time_rate=share(events["made_on_time"], events["made"]),
        )
        for priority, events in sorted(counted.items())
    ]
