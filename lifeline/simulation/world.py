"""The world around the floor, modelled, on a virtual clock: callers who answer the IVR's
questions, hold, and hang up when their patience runs out; handlers who sign in and out by the
rota, answer (or miss) offers, talk and wrap up; the phone network that carries each decision
out; the workers' jobs and periodic sweeps. Everything that decides anything is Lifeline's own
code (the use cases, their Lua, the rules): this only does what Twilio, the consoles and the
worker processes would, in the order a real day would."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlsplit

from redis.asyncio import Redis

from config import paths
from config.settings import Settings
from lifeline.simulation.inputs import Scenario
from lifeline.simulation.recorded import key_for
from prompts.catalogue import Locale
from routing import callback_legs, keys, putting_through, waiting
from routing.agenda import REDELIVER_SECONDS, Agenda, CallbackCall, ReplayBatch
from routing.answering import answer
from routing.arrival import arrive
from routing.assignment import Offer
from routing.callback_legs import Leg
from routing.cases import ClinicalCase
from routing.clock import VirtualClock
from routing.decisions import (
    Ask,
    CallbackBridge,
    Connect,
    Decision,
    Dial,
    Enqueue,
    Feedback,
    Goodbye,
    Hold,
    Leave,
    Nothing,
    Spoken,
    Step,
    Whisper,
)
from routing.floor import Floor
from routing.handlers import Device, HandlerProfile, HandlerState, NotAllowed
from routing.menu import Given
from routing.mode import ModeStore
from routing.models import Call
from routing.placing import CannotQueue, NoPlacement, finish, offer_waiting
from routing.rulebook import RuleBook
from routing.rules import RuleSet
from routing.sweeps import sweep_floor
from routing.wrapup import WrapUpOutcome, WrapUpRefused, wrap_up
from workers.connect import connect as connect_job
from workers.runtime import Runtime, jobs_run_in
from workers.telephony import CallGone, CallSeen, PlacedCall, TelephonyError

log = logging.getLogger(__name__)

MIN_TURN_SECONDS = 1.0  # a hold turn's round trip, however short its pause
STUCK_EVENTS = 200_000  # events at one instant in a row: something loops without time passing
BREAK_CHECK_SECONDS = 30  # how often a break waiting for a call's end is looked at again
HEARTBEAT_SECONDS = 20  # a console's heartbeat, well inside the rules' 30 s timeout
SWEEP_SECONDS = 5  # workers/cron.py: the floor sweep (sweeps.tick)
OUTBOUND_TIMEOUT_SECONDS = 60  # Twilio's ring timeout for a placed call that sets none
# A handler put on a break for missing offers in a row (one they must end themselves) looks at
# their console and makes themselves available again this long after.
BACK_AFTER_MISSES_SECONDS = 120
CALL_AGAIN_SECONDS = 300  # a patient already on the line calls again this long after

Action = Callable[..., Awaitable[object]]


class Stuck(RuntimeError):
    """Events follow one another without time passing: a run that would never end."""


class Engine:
    """Events in time order on the virtual clock, run one at a time (each to its end, as a
    request or a job would be); ties run in the order they were scheduled."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Action, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.ran = 0

    def at(self, when: float, action: Action, *args: Any) -> None:
        """`action(*args)` at `when` (now, if that has passed)."""
        heapq.heappush(self._heap, (max(when, self.clock.now()), next(self._seq), action, args))

    def after(self, delay: float, action: Action, *args: Any) -> None:
        self.at(self.clock.now() + delay, action, *args)

    def every(self, seconds: float, until: float, action: Action) -> None:
        async def tick() -> None:
            await action()
            if self.clock.now() + seconds < until:
                self.after(seconds, tick)

        self.after(0, tick)

    async def run(self, until: float, progress: Callable[[float], None] | None = None) -> None:
        heap = self._heap
        instant, same = None, 0
        while heap and heap[0][0] <= until:
            when, _, action, args = heapq.heappop(heap)
            same = same + 1 if when == instant else 0
            if same > STUCK_EVENTS:
                raise Stuck(f"{same} events at one instant ({action.__name__} last)")
            instant = when
            self.clock.set(when)
            await action(*args)
            self.ran += 1
            if progress is not None and self.ran % 2000 == 0:
                progress(when)
        self.clock.set(until)


def spoken_seconds(timing_prompt: float, spoken: tuple[Spoken, ...]) -> float:
    return timing_prompt * len(spoken)


@dataclass
class Caller:
    """One modelled patient: who they are, what they will answer, how long they will wait."""

    sid: str
    number: str
    line: str
    keys: dict[str, str]  # the key they press at each question ("" stays silent)
    reason: str
    patience: float  # seconds in the queue before they hang up
    talk: float  # seconds with a handler, once put through
    wrap: float  # the handler's wrap-up after the call
    accepts_callback: bool = False  # takes a callback if the wait loop offers one
    leg: int = 0  # bumped whenever their call moves on: older scheduled turns are void
    phase: str = "waiting"  # waiting (to call), ivr, queued, ringing, talking, sent, ended
    queued_at: float | None = None
    ringing: tuple[str, int] | None = None  # handler, offer
    turn: int = 0
    on_callback: bool = False  # their phone is on a callback's call

    @property
    def on_the_phone(self) -> bool:
        return self.phase not in ("ended", "waiting") or self.on_callback


@dataclass
class Seen:
    """What the model saw happen (its own counts, beside the figures Lifeline keeps)."""

    counts: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    cases_sent: int = 0
    calls_for: Counter[str] = field(default_factory=Counter)  # calls placed, by callback
    rang_out_for: Counter[str] = field(default_factory=Counter)  # patient's rings unanswered
    # Per hour (epoch hour), handler-seconds in each state, sampled with the heartbeats.
    state_seconds: dict[int, dict[HandlerState, float]] = field(default_factory=dict)

    def odd(self, what: str) -> None:
        self.counts["anomalies"] += 1
        if len(self.anomalies) < 50:
            self.anomalies.append(what)


class SimTelephony:
    """Twilio's REST API as the connect job uses it: the redirect reaches the modelled call."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def redirect(self, call_sid: str, url: str) -> None:
        await self.world.redirected(call_sid, url)

    async def place(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: bool
    ) -> PlacedCall:
        return self.world.placed(to, from_, url)

    async def call(self, call_sid: str) -> CallSeen:
        placed = self.world.outbound.get(call_sid)
        if placed is None:
            raise CallGone("no such call", call_sid)
        return placed.seen()

    async def calls_between(self, to: str, from_: str, since: object) -> list[CallSeen]:
        return [c.seen() for c in self.world.outbound.values() if (c.to, c.from_) == (to, from_)]

    def __getattr__(self, name: str) -> Any:
        raise TelephonyError(f"the simulated network does not do {name}")


class JobClock:
    """A job's clock in the simulation: the world's, except that a job's short wait (for its
    calling slot, under the agenda's second) does not hold up the world: the job goes on at
    once. The one difference a simulation has from the floor: a callback's call may go up to a
    second before its slot."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        return None


class SimAgenda(Agenda):
    """The agenda, whose items the world takes when they come due (as `lifeline cron` reads it
    every second) rather than by looking every second."""

    def __init__(self, redis: Redis, world: World) -> None:
        super().__init__(redis)
        self.world = world

    async def put(self, item: ReplayBatch | CallbackCall, when: float) -> None:
        await super().put(item, when)
        self.world.engine.at(when, self.world.agenda_due)


@dataclass(frozen=True)
class SimRuntime(Runtime):
    """A job's runtime in the simulation: its stores' caches age on the virtual clock, and its
    calls go to the modelled network."""

    world: Any = None

    @cached_property
    def telephony(self) -> Any:
        return SimTelephony(self.world)

    @cached_property
    def rulebook(self) -> RuleBook:
        return self.world.floor.rulebook  # type: ignore[no-any-return]

    @cached_property
    def modes(self) -> ModeStore:
        return self.world.floor.modes  # type: ignore[no-any-return]

    @cached_property
    def agenda(self) -> Agenda:
        return SimAgenda(self.redis, self.world)


class SimOutbound:
    """The jobs the use cases ask for: run on the virtual clock, a moment later, as a worker
    would pick them up."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def connect_all(self, offers: list[Offer], wait: bool = True) -> None:
        for offer in offers:
            self.world.engine.after(self.world.scenario.timing.job, self.world.connect, offer)

    async def hand_off(
        self, what: str, enqueue: Callable[..., object], *args: Any, **kw: Any
    ) -> None:
        enqueue(*args, **kw)

    def send_case(self, case: ClinicalCase, open_case: bool = False) -> object:
        self.world.seen.cases_sent += 1
        return None

    def release_leg(
        self, call_sid: str, leg: str, to: str, warm: bool = False, handler: str = ""
    ) -> object:
        self.world.seen.odd("a handler sent a caller on (not simulated)")
        return None

    def redirect_call(self, call_sid: str, path: str, only_if: str = "") -> object:
        self.world.seen.odd("a redirect job (not simulated)")
        return None

    def dial_dispatcher(self, call_sid: str) -> object:
        self.world.seen.odd("a warm transfer to dispatch (not simulated)")
        return None

    def hang_up(self, call_sid: str) -> object:
        return None


@dataclass
class Person:
    """A modelled handler on the rota."""

    id: str
    on_duty: bool = False
    talking: str = ""  # the CallSid of the call they are on
    wrap: float = 0.0  # the wrap-up that call needs


@dataclass
class Placed:
    """A call Lifeline placed (a callback's first leg), as Twilio holds it."""

    sid: str
    to: str
    from_: str
    leg: Leg
    created: float
    status: str = "queued"
    started: float | None = None
    party: str = ""  # on the line: "" (ringing), "first", "both", "over"
    patient: Caller | None = None  # the patient, once they have answered it

    def seen(self) -> CallSeen:
        return CallSeen(self.sid, self.status, "outbound-api", self.created, self.started)


class World:
    """The modelled day around a floor of Lifeline's own (see the module's docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        redis: Redis,
        settings: Settings,
        rules: RuleSet,
        clock: VirtualClock,
        rng: random.Random,
    ) -> None:
        self.scenario = scenario
        # The caches of the rules and the mode age on the virtual clock too.
        self.floor = Floor.of(redis, clock, settings, rules, SimOutbound(self), monotonic=clock.now)
        self.clock = clock
        # Two random streams: the callers' (who calls when, what they answer, how long they
        # wait and talk) drawn only as the hours' callers are made, so that two runs of the same
        # scenario under different rules meet the very same callers; and the floor's (handlers
        # answering or missing offers), drawn as the run goes.
        self.rng = rng
        self.floor_rng = random.Random(f"floor-{scenario.seed}")
        self.engine = Engine(clock)
        self.seen = Seen()
        self.callers: dict[str, Caller] = {}
        self.by_number: dict[str, Caller] = {}  # the latest caller from each number
        self.outbound: dict[str, Placed] = {}
        self._wrap_after: dict[str, float] = {}  # a callback's wrap-up, by its call
        self.people: dict[str, Person] = {}
        self.runtime = SimRuntime(
            settings=settings,
            redis=redis,
            clock=JobClock(clock),
            world=self,
        )
        self._numbers = itertools.count(1)
        self._sids = itertools.count(1)
        self._earlier: list[str] = []  # numbers that called already, for repeat callers

    # Running a job as a worker would, on this world's Redis, clock and network.

    async def job(self, work: Callable[..., Awaitable[object]], *args: Any) -> object:
        with jobs_run_in(self.runtime):
            return await work(*args)

    # Callers.

    def new_caller(
        self, line: str, keys: dict[str, str], reason: str, recorded: bool = False
    ) -> Caller:
        """A caller of the demand's (perhaps calling again), or of a recorded day (whose
        answers already say whether they were recognised)."""
        demand = self.scenario.demand
        if not recorded and self._earlier and self.rng.random() < demand.mix.repeat:
            number = self.rng.choice(self._earlier)
        else:
            number = f"+447700{next(self._numbers):06d}"
            self._earlier.append(number)
        sid = f"CA{next(self._sids):032x}"
        patience = demand.patience.sample(self.rng)
        staffing = self.scenario.staffing
        talk = staffing.handle(reason).sample(self.rng)
        wrap = staffing.wrap_up(reason).sample(self.rng)
        accepts = self.rng.random() < demand.callbacks.accept
        caller = Caller(sid, number, line, keys, reason, patience, talk, wrap, accepts)
        self.callers[sid] = caller
        return caller

    async def call_in(self, caller: Caller) -> None:
        earlier = self.by_number.get(caller.number)
        if earlier is not None and earlier is not caller and earlier.on_the_phone:
            # The same patient, still on the line (or on their callback): they call later.
            self.seen.counts["called_again_later"] += 1
            self.engine.after(CALL_AGAIN_SECONDS, self.call_in, caller)
            return
        self.by_number[caller.number] = caller
        caller.phase = "ivr"
        self.seen.counts["calls"] += 1
        decision = await arrive(self.floor, caller.sid, caller.number, caller.line)
        await self.follow(caller, decision)

    async def follow(self, caller: Caller, decision: Decision) -> None:
        """Do what Twilio would with the caller's next TwiML."""
        timing = self.scenario.timing
        leg = caller.leg
        match decision:
            case Ask():
                key = caller.keys.get(decision.step.value, "")
                wait = spoken_seconds(timing.prompt, decision.say) + (
                    timing.keypress if key else timing.gather_timeout
                )
                self.engine.after(wait, self._answered, caller, decision, key, leg)
            case Enqueue():
                caller.phase = "queued"
                if caller.queued_at is None:
                    caller.queued_at = self.clock.now()
                    if math.isfinite(caller.patience):
                        self.engine.after(caller.patience, self._hang_up, caller)
                wait = spoken_seconds(timing.prompt, decision.say)
                self.engine.after(wait, self._hold, caller, 0, leg)
            case Hold():
                # A turn takes a request's time at least, whatever its pause says.
                wait = max(
                    MIN_TURN_SECONDS,
                    spoken_seconds(timing.prompt, decision.say) + decision.pause_seconds,
                )
                offer = decision.offer
                if offer is not None and caller.accepts_callback:
                    wait = spoken_seconds(timing.prompt, decision.say + offer.say)
                    self.engine.after(
                        wait + timing.keypress, self._take_callback, caller, decision, leg
                    )
                    return
                if offer is not None:
                    wait += spoken_seconds(timing.prompt, offer.say) + timing.gather_timeout
                self.engine.after(wait, self._hold, caller, decision.turn + 1, leg)
            case Leave():
                await self._left_queue(caller)
            case Dial():
                caller.phase = "sent"
                caller.leg += 1
                self.seen.counts[f"dialled_{decision.purpose}"] += 1
                self.engine.after(timing.dispatch_call, self._ended, caller, caller.leg)
            case Connect():
                self._ring(caller, decision)
            case Feedback():
                # The feedback question: modelled callers hang up on it (their answers are not
                # what the simulator measures); counted, to see how many are asked.
                self.seen.counts["feedback_asked"] += 1
                await self._ended(caller)
            case Goodbye() | Nothing():
                caller.leg += 1
                self.engine.after(
                    spoken_seconds(timing.prompt, getattr(decision, "say", ())),
                    self._ended,
                    caller,
                    caller.leg,
                )
            case _:
                self.seen.odd(f"a caller was given {decision.kind}")
                await self._ended(caller)

    async def _answered(self, caller: Caller, asked: Ask, key: str, leg: int) -> None:
        if caller.leg != leg or caller.phase == "ended":
            return
        call = Call(sid=caller.sid, caller=caller.number, line=caller.line, answers=asked.answers)
        given = Given(digits=key) if key else Given()
        try:
            decision = await answer(self.floor, call, asked.step, asked.attempt, given)
        except (NoPlacement, CannotQueue) as error:
            self.seen.odd(f"could not place a call: {error!r}")
            await self._ended(caller)
            return
        await self.follow(caller, decision)

    async def _hold(self, caller: Caller, turn: int, leg: int) -> None:
        if caller.leg != leg or caller.phase != "queued":
            return
        caller.turn = turn
        record = await self.floor.calls.get(caller.sid)
        locale = record.locale if record else Locale.EN
        decision = await waiting.hold(self.floor, record, locale, None, turn)
        await self.follow(caller, decision)

    async def _take_callback(self, caller: Caller, turn: Hold, leg: int) -> None:
        """The caller presses the key the wait loop's callback offer names."""
        if caller.leg != leg or caller.phase != "queued" or turn.offer is None:
            return
        offer = turn.offer
        call = Call(sid=caller.sid, caller=caller.number, line=caller.line, answers=offer.answers)
        key = key_for(Step.CALLBACK_OFFER, "yes")
        try:
            decision = await answer(self.floor, call, offer.step, offer.attempt, Given(digits=key))
        except (NoPlacement, CannotQueue) as error:
            self.seen.odd(f"a callback offer taken with no placement: {error!r}")
            await self._ended(caller)
            return
        if isinstance(decision, Nothing):  # the wait goes on (a handler is being rung)
            self.engine.after(MIN_TURN_SECONDS, self._hold, caller, turn.turn + 1, leg)
            return
        self.seen.counts["callbacks_asked"] += 1
        await self.follow(caller, decision)

    async def _left_queue(self, caller: Caller) -> None:
        caller.leg += 1
        record = await self.floor.calls.get(caller.sid)
        try:
            decision = await waiting.left_queue(
                self.floor, caller.sid, "leave", record.locale if record else Locale.EN, caller.turn
            )
        except NoPlacement:
            self.seen.odd("a caller left the queue with no placement")
            await self._ended(caller)
            return
        await self.follow(caller, decision)

    async def _hang_up(self, caller: Caller) -> None:
        """Patience has run out: a caller still waiting (or ringing a handler) hangs up."""
        if caller.phase == "queued":
            caller.leg += 1
            self.seen.counts["hung_up"] += 1
            await self._ended(caller)
        elif caller.phase == "ringing" and caller.ringing is not None:
            caller.leg += 1
            self.seen.counts["hung_up"] += 1
            handler, offer = caller.ringing
            await putting_through.dial_ended(
                self.floor, caller.sid, handler, offer, "canceled", "false", "completed"
            )
            await self._ended(caller)

    async def _ended(self, caller: Caller, leg: int | None = None) -> None:
        """The call is over: Twilio's final status callback (`leg`: unless the call has moved on
        since, a redirect pulling it off a number back into the queue)."""
        if caller.phase == "ended" or (leg is not None and leg != caller.leg):
            return
        caller.phase = "ended"
        caller.leg += 1
        await finish(self.floor, caller.sid)

    # Connecting: the connect job, the redirect, the handler's phone.

    async def connect(self, offer: Offer) -> None:
        await self._connect(offer.member, offer.handler, offer.offer)

    async def _connect(self, member: str, handler: str, offer: int) -> None:
        """The connect job (a call's redirect, or a callback's call), as a worker runs it; one
        that fails (as RQ would retry it) leaves the offer to the sweep, as on the real floor."""
        try:
            outcome = await self.job(connect_job, member, handler, offer)
        except TelephonyError as error:
            self.seen.odd(f"a connect job failed: {error}")
            return
        self.seen.counts[f"connect_{outcome}"] += 1

    async def agenda_due(self) -> None:
        """What the agenda says is due now goes to the workers (workers/sweeps.py, `due`);
        an item its job neither puts back nor takes off comes due again `REDELIVER_SECONDS`
        later, as the agenda hands it out then."""
        items = await self.runtime.agenda.take_due(self.clock.now())
        if items:
            self.engine.after(REDELIVER_SECONDS, self.agenda_due)
        for item in items:
            if isinstance(item, ReplayBatch):
                self.seen.odd("a journal replay on the agenda (not simulated)")
            elif isinstance(item, CallbackCall):
                member = keys.callback_member(item.callback)
                self.engine.after(
                    self.scenario.timing.job, self._connect, member, item.handler, item.offer
                )

    async def redirected(self, sid: str, url: str) -> None:
        caller = self.callers.get(sid)
        if caller is None or caller.phase == "ended":
            raise CallGone("the call has ended", sid)
        parts = urlsplit(url)
        if not parts.path.endswith(paths.CONNECT):
            self.seen.odd(f"a redirect to {parts.path} (not simulated)")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        caller.leg += 1
        caller.phase = "connecting"
        leg = caller.leg
        self.engine.after(
            0, self._fetch_connect, caller, query["handler"], int(query["offer"]), leg
        )

    async def _fetch_connect(self, caller: Caller, handler: str, offer: int, leg: int) -> None:
        if caller.leg != leg:
            return
        try:
            decision = await putting_through.connect(self.floor, caller.sid, handler, offer)
        except NoPlacement:
            self.seen.odd("a connect with no placement")
            await self._ended(caller)
            return
        caller.phase = "queued"
        await self.follow(caller, decision)

    def _ring(self, caller: Caller, connect: Connect) -> None:
        staffing = self.scenario.staffing
        caller.phase = "ringing"
        caller.ringing = (connect.handler, connect.offer)
        caller.leg += 1
        leg = caller.leg
        ring = connect.timeout_seconds
        answers_after = staffing.answer_after_seconds.sample(self.floor_rng)
        if self.floor_rng.random() < staffing.misses_offer or answers_after >= ring:
            self.engine.after(ring, self._rang_out, caller, connect, leg)
        else:
            self.engine.after(answers_after, self._picked_up, caller, connect, leg)

    async def _rang_out(self, caller: Caller, connect: Connect, leg: int) -> None:
        if caller.leg != leg:
            return
        caller.leg += 1
        caller.ringing = None
        self.seen.counts["offers_missed"] += 1
        decision = await putting_through.dial_ended(
            self.floor,
            caller.sid,
            connect.handler,
            connect.offer,
            "no-answer",
            "false",
            "in-progress",
        )
        await self._after_a_miss(connect.handler)
        caller.phase = "queued"
        await self.follow(caller, decision)

    async def _picked_up(self, caller: Caller, connect: Connect, leg: int) -> None:
        if caller.leg != leg:
            return
        handler_leg = f"{caller.sid}-{connect.handler}-{connect.offer}"
        whisper = await putting_through.handler_answered(
            self.floor, caller.sid, connect.handler, connect.offer, leg=handler_leg
        )
        assert isinstance(whisper, Whisper)
        caller.leg += 1
        leg = caller.leg
        timing = self.scenario.timing
        if not whisper.accept:
            self.engine.after(
                spoken_seconds(timing.prompt, whisper.say),
                self._dial_over,
                caller,
                connect,
                "completed",
                "false",
                leg,
            )
            return
        caller.phase = "talking"
        caller.ringing = None
        person = self.people.get(connect.handler)
        if person is not None:
            person.talking = caller.sid
            person.wrap = caller.wrap
        talk = caller.talk
        self.engine.after(
            timing.whisper + talk,
            self._dial_over,
            caller,
            connect,
            "completed",
            "true",
            leg,
        )

    async def _dial_over(
        self, caller: Caller, connect: Connect, status: str, bridged: str, leg: int
    ) -> None:
        if caller.leg != leg:
            return
        caller.leg += 1
        decision = await putting_through.dial_ended(
            self.floor, caller.sid, connect.handler, connect.offer, status, bridged, "in-progress"
        )
        if bridged == "true":
            self.seen.counts["talked"] += 1
            person = self.people.get(connect.handler)
            if person is not None:
                pause, person.talking = person.wrap, ""
                self.engine.after(pause, self._wrapped_up, connect.handler, caller.sid)
        caller.phase = "queued"
        await self.follow(caller, decision)

    # Calling back: the calls the placing job makes, and both their legs.

    def placed(self, to: str, from_: str, url: str) -> PlacedCall:
        """Twilio takes a callback's call: the first leg rings (the handler's phone, or the
        patient's), and its status callback says so."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        leg = Leg(
            cb=query["cb"], handler=query["handler"], offer=int(query["offer"]), leg=query["leg"]
        )
        sid = f"CB{next(self._sids):032x}"
        call = Placed(sid, to, from_, leg, self.clock.now())
        self.outbound[sid] = call
        self.seen.counts["callbacks_placed"] += 1
        self.seen.calls_for[leg.cb] += 1
        self.engine.after(self.scenario.timing.job, self._out_ringing, call)
        return PlacedCall(sid=sid, status="queued")

    async def _out_ringing(self, call: Placed) -> None:
        call.status = "ringing"
        await callback_legs.status(self.floor, call.leg, call.sid, "ringing")
        if call.leg.leg == "handler":
            after = self._handler_answers(OUTBOUND_TIMEOUT_SECONDS)
        else:
            after = self._patient_answers(call.to, OUTBOUND_TIMEOUT_SECONDS)
        if after is None:
            self.engine.after(OUTBOUND_TIMEOUT_SECONDS, self._out_over, call, "no-answer")
        else:
            self.engine.after(after, self._out_answered, call)

    def _handler_answers(self, ring: float) -> float | None:
        """Seconds until a handler picks up their phone, or None if they let it ring out."""
        staffing = self.scenario.staffing
        after = staffing.answer_after_seconds.sample(self.floor_rng)
        missed = self.floor_rng.random() < staffing.misses_offer
        return None if missed or after >= ring else after

    def _patient_answers(self, number: str, ring: float) -> float | None:
        """Seconds until the patient picks up a callback, or None if it rings out."""
        take_up = self.scenario.demand.callbacks
        after = take_up.answer_after.sample(self.floor_rng)
        answers = self.floor_rng.random() < take_up.answer
        patient = self.by_number.get(number)
        if patient is None or patient.on_the_phone:  # on another call: it rings out
            return None
        return after if answers and after < ring else None

    async def _out_answered(self, call: Placed) -> None:
        call.status, call.started, call.party = "in-progress", self.clock.now(), "first"
        if call.leg.leg == "patient":
            self._on_callback(call, call.to)
        answered_by = "human" if call.leg.leg == "patient" else ""
        decision = await callback_legs.answer(self.floor, call.leg, call.sid, answered_by)
        timing = self.scenario.timing
        if not isinstance(decision, CallbackBridge):  # told why, and hung up
            spoken = spoken_seconds(timing.prompt, getattr(decision, "say", ()))
            self.engine.after(spoken, self._out_over, call, "completed")
            return
        ringing = spoken_seconds(timing.prompt, decision.say)
        ring = decision.timeout_seconds
        if decision.first == "handler":
            after = self._patient_answers(decision.address, ring)
        else:
            after = self._handler_answers(ring)
        if after is None:
            self.engine.after(ringing + ring, self._bridge_over, call, "no-answer", "false")
        else:
            self.engine.after(ringing + after, self._second_answered, call, decision)

    async def _second_answered(self, call: Placed, bridge: CallbackBridge) -> None:
        """The other party picked up: the patient (greeted) or the handler (whispered to)."""
        if bridge.first == "handler":
            self._on_callback(call, bridge.address)
            heard = await callback_legs.greet(self.floor, call.leg, "human")
        else:
            heard = await callback_legs.whisper(self.floor, call.leg)
        timing = self.scenario.timing
        spoken = spoken_seconds(timing.prompt, getattr(heard, "say", ()))
        if not (isinstance(heard, Whisper) and heard.accept):
            self.engine.after(spoken, self._bridge_over, call, "completed", "false")
            return
        call.party = "both"
        patient = call.patient
        talk = patient.talk if patient is not None else timing.whisper
        self.engine.after(spoken + talk, self._bridge_over, call, "completed", "true")
        if patient is not None:
            self._wrap_after[call.sid] = patient.wrap

    def _on_callback(self, call: Placed, number: str) -> None:
        call.patient = self.by_number.get(number)
        if call.patient is not None:
            call.patient.on_callback = True

    async def _bridge_over(self, call: Placed, status: str, bridged: str) -> None:
        """The first leg's dial is over: its outcome, then that leg's own end."""
        decision = await callback_legs.result(self.floor, call.leg, status, bridged)
        if call.patient is not None and call.leg.leg == "handler":
            call.patient.on_callback = False  # the patient's leg ends with the dial
        if bridged == "true":
            self.seen.counts["callbacks_talked"] += 1
            wrap = self._wrap_after.pop(call.sid, 0.0)
            member = keys.callback_member(call.leg.cb)
            self.engine.after(wrap, self._wrapped_up, call.leg.handler, member)
        elif call.leg.leg == "patient" and status == "no-answer":
            await self._after_a_miss(call.leg.handler)  # the handler let it ring out
        elif status == "no-answer":
            self.seen.rang_out_for[call.leg.cb] += 1  # the patient let it ring out
        spoken = spoken_seconds(self.scenario.timing.prompt, getattr(decision, "say", ()))
        self.engine.after(spoken, self._out_over, call, "completed")

    async def _out_over(self, call: Placed, status: str) -> None:
        """The first leg is over: its final status callback. Twilio keeps the call, ended."""
        call.status, call.party = status, "over"
        if call.patient is not None:
            call.patient.on_callback = False
        await callback_legs.status(self.floor, call.leg, call.sid, status)
        if call.leg.leg == "handler" and status == "no-answer":
            await self._after_a_miss(call.leg.handler)
        elif status == "no-answer":
            self.seen.rang_out_for[call.leg.cb] += 1

    # Handlers.

    async def _wrapped_up(self, handler_id: str, member: str) -> None:
        """The handler ends the wrap-up of `member`'s call (unless the rules' own wrap-up time
        ended it first, and they are on another call's since)."""
        floor = self.floor
        handler = await floor.handlers.get(handler_id)
        if handler.state is not HandlerState.WRAP_UP or handler.call != member:
            return
        try:
            done = await wrap_up(
                floor.redis,
                floor.handlers,
                floor.calls,
                floor.callbacks,
                floor.modes,
                floor.rulebook,
                floor.assigner,
                self._send_case,
                handler_id,
                outcome=WrapUpOutcome.ADVICE,
                notes="",
                available=True,
                now=self.clock.now(),
            )
        except WrapUpRefused:
            return  # the rules' own wrap-up time ended it first
        await floor.outbound.connect_all(done.offers)

    async def _send_case(self, case: ClinicalCase) -> object:
        return self.floor.outbound.send_case(case)

    async def _after_a_miss(self, handler_id: str) -> None:
        """A handler who let an offer ring out: put on a break that ends on its own, or, after
        missing several in a row, on one they must end themselves, which they do a while
        later."""
        handler = await self.floor.handlers.get(handler_id)
        missed = handler.state is HandlerState.BREAK and handler.reason == "missed"
        if missed and handler.break_until is None:  # not one that ends on its own
            self.engine.after(BACK_AFTER_MISSES_SECONDS, self._back_after_misses, handler_id)

    async def _back_after_misses(self, handler_id: str) -> None:
        if not self.people[handler_id].on_duty:
            return
        handler = await self.floor.handlers.get(handler_id)
        missed = handler.state is HandlerState.BREAK and handler.reason == "missed"
        if missed and handler.break_until is None:
            await self._choose(handler_id, HandlerState.AVAILABLE)
            await offer_waiting(self.floor)

    async def sign_in(self, profile: HandlerProfile) -> None:
        person = self.people.setdefault(profile.id, Person(profile.id))
        await self.floor.handlers.create(profile, self.clock.now())
        person.on_duty = True
        await self._choose(profile.id, HandlerState.AVAILABLE)
        await offer_waiting(self.floor)

    async def sign_out(self, handler_id: str) -> None:
        self.people[handler_id].on_duty = False
        await self._choose(handler_id, HandlerState.OFFLINE)

    async def take_break(self, handler_id: str, minutes: int) -> None:
        """As from the console: on a call, the break begins once the call and its wrap-up are
        over, and lasts its length from then."""
        if not self.people[handler_id].on_duty:
            return
        await self._choose(handler_id, HandlerState.BREAK, "break")
        self.engine.after(minutes * 60, self._back, handler_id, minutes)

    async def _back(self, handler_id: str, minutes: int) -> None:
        if not self.people[handler_id].on_duty:
            return
        handler = await self.floor.handlers.get(handler_id)
        if handler.state is HandlerState.BREAK:
            due = handler.since + minutes * 60
            if self.clock.now() < due:
                self.engine.at(due, self._back, handler_id, minutes)
                return
            await self._choose(handler_id, HandlerState.AVAILABLE)
            await offer_waiting(self.floor)
        elif handler.after_call is HandlerState.BREAK:  # still on the call it waits for
            self.engine.after(BREAK_CHECK_SECONDS, self._back, handler_id, minutes)

    async def _choose(self, handler_id: str, to: HandlerState, reason: str = "") -> None:
        with contextlib.suppress(NotAllowed):  # already there, or on the way
            await self.floor.handlers.choose(handler_id, to, self.clock.now(), reason)

    async def heartbeats(self) -> None:
        """Every open console's heartbeat; and the floor's handlers by state, as Lifeline has
        them, counted into the hour (for the handlers signed in, and their occupancy)."""
        now = self.clock.now()
        on = [p.id for p in self.people.values() if p.on_duty]
        await self.floor.handlers.heartbeats(on, now)
        counts = await self.floor.handlers.counts()
        hour = int(now // 3600)
        for state, count in counts.items():
            if count:
                by_state = self.seen.state_seconds.setdefault(hour, {})
                by_state[state] = by_state.get(state, 0.0) + count * HEARTBEAT_SECONDS

    async def sweep(self) -> None:
        report = await sweep_floor(
            self.floor.redis, await self.floor.rulebook.active(), self.clock.now()
        )
        await self.floor.outbound.connect_all(report.offers)


def handler_profile(handler_id: str, skills: dict[str, int]) -> HandlerProfile:
    return HandlerProfile(
        id=handler_id,
        name=handler_id,
        skills=skills,
        device=Device(kind="client", address=handler_id),
    )
