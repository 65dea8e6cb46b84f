"""The floor's recent changes, each against a baseline from the same run: a waiting caller's
standing (one Lua script) against a ZRANK, activating a rule set against the ZADDs re-placing
needs at the least, and reading the statistics against one PING.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.activation import activate
from routing.assignment import Assigner
from routing.audit import Audit
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.figures import Window
from routing.handlers import Device, HandlerProfile, Handlers, HandlerState
from routing.models import Answers, Call, CallFacts, Placement, Reason, Screen, case_id_for
from routing.offers import Offers
from routing.queues import Queues
from routing.rulebook import RuleBook, canonical
from routing.rules import RuleSet, default_rules
from routing.stats import Stats
from tests.conftest import NUMBERS

T0 = 1_767_225_600.0  # 2026-01-01 00:00 in London: "today" starts here
DAY = 86_400
LINE = "+441134960000"
# Roughly NHS 111's mix (REFERENCE.md: 6% dental, 1-3% mental health, ~1.6% in Welsh).
REASONS = {
    Reason.MEDICAL: 64,
    Reason.EXISTING_CASE: 15,
    Reason.MEDICINES: 8,
    Reason.DENTAL: 6,
    Reason.MENTAL_HEALTH: 3,
    Reason.UNKNOWN: 4,
}
# Six handlers cover every skill of the packaged rules; states cycle through those on duty.
SKILL_MIX: tuple[dict[str, int], ...] = (
    {},
    {"clinical": 3},
    {"clinical": 4, "mental_health": 3},
    {"dental": 3},
    {"clinical": 3, "welsh": 3},
    {"mental_health": 4},
)
ON_DUTY = (HandlerState.BUSY, HandlerState.BUSY, HandlerState.WRAP_UP, HandlerState.AVAILABLE)
Step = Callable[[], Awaitable[object]]


def sid(n: int) -> str:
    return f"CA{n:032x}"


def caller(n: int) -> str:
    return f"+4477009{n:05d}"


def p(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed(step: Step, times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        await step()
        seconds.append(time.perf_counter() - started)
    return seconds


def answers(rng: random.Random) -> Answers:
    screen = rng.choices([Screen.YES, Screen.UNANSWERED, Screen.NO], [1, 3, 96])[0]
    reason = rng.choices(list(REASONS), list(REASONS.values()))[0]
    return Answers(
        locale=Locale.CY if rng.random() < 0.02 else Locale.EN, screen=screen, reason=reason
    )


async def queue_callers(
    client: redis.asyncio.Redis, rules: RuleSet, count: int, now: float
) -> list[tuple[str, Placement]]:
    """`count` callers placed by the rules, as the IVR places them, arrived in the last 30 min."""
    rng, calls, placed = random.Random(count), Calls(client, numbers=NUMBERS), []
    for n in range(count):
        said = answers(rng)
        placement = rules.place(CallFacts.of(said, LINE, now))
        call = Call(sid=sid(n), caller=caller(n), line=LINE, answers=said)
        await calls.enqueue(call, placement, now - rng.uniform(0, 1800))
        placed.append((sid(n), placement))
    return placed


async def staff(
    client: redis.asyncio.Redis,
    count: int,
    now: float,
    states: tuple[HandlerState, ...],
    skills: tuple[Mapping[str, int], ...] = SKILL_MIX,
    first: int = 0,
) -> None:
    handlers = Handlers(client)
    for n in range(first, first + count):
        profile = HandlerProfile(
            id=f"h{n:04d}",
            name=f"H{n}",
            skills=dict(skills[n % len(skills)]),
            device=Device(kind="client", address=f"h{n:04d}"),
        )
        await handlers.create(profile, now)
        await handlers.transition(profile.id, states[n % len(states)], now, (HandlerState.OFFLINE,))


@dataclass(frozen=True)
class StandingRun:
    callers: int
    handlers: int
    position: int  # the middle caller of `general`, in the real assignment order
    rank: int  # the same caller by ZRANK in its own queue, plus one
    standing: list[float]
    zrank: list[float]
    server: tuple[float, float]  # Redis's own time per call (µs): standing's script, ZRANK


async def server_time(client: redis.asyncio.Redis, command: str) -> float:
    """Redis's own time per call of `command` since the statistics were last reset (µs)."""
    stats = await client.info("commandstats")
    return float(stats[f"cmdstat_{command}"]["usec_per_call"])


async def measure_standing(
    client: redis.asyncio.Redis, callers: int, handlers: int, rounds: int = 10, each: int = 500
) -> StandingRun:
    """The hold loop's position for a caller in the middle of the largest queue, and the plain
    ZRANK it replaced, alternating in rounds so that both see the same load on the machine."""
    await client.flushall()
    rules = default_rules()
    await queue_callers(client, rules, callers, T0)
    await staff(client, handlers, T0, ON_DUTY)
    key = keys.queue("general")
    half = int(await client.zcard(key)) // 2
    middle = str((await client.zrange(key, half, half))[0])
    queues = Queues(client)

    async def standing() -> object:
        return await queues.standing(rules, "general", middle, T0)

    async def zrank() -> object:
        return await client.zrank(key, middle)

    await timed(standing, 100)
    await timed(zrank, 100)
    await client.config_resetstat()
    standings: list[float] = []
    ranks: list[float] = []
    for _ in range(rounds):
        standings += await timed(standing, each)
        ranks += await timed(zrank, each)
    server = (await server_time(client, "evalsha"), await server_time(client, "zrank"))
    found = await queues.standing(rules, "general", middle, T0)
    assert found.skilled_on_duty == handlers, found
    rank = await client.zrank(key, middle)
    assert isinstance(rank, int)
    return StandingRun(callers, handlers, found.position, rank + 1, standings, ranks, server)


def without_dental(rules: RuleSet) -> RuleSet:
    """The rules with the dental queue gone: dental callers go to `general`."""
    document = rules.model_dump(mode="json")
    del document["queues"]["dental"]
    for route in document["routes"]:
        if route["queue"] == "dental":
            route["queue"] = "general"
    return RuleSet.model_validate(document)


@dataclass(frozen=True)
class ActivationRun:
    waiting: int  # in a queue, on offer, or a callback waiting its turn
    on_offer: int
    callbacks: int
    moved: int
    activation: list[float]  # one per repetition, each on a floor set up afresh
    zadds: list[float]
    script: list[float]  # each activation's longest script: the step that places everyone


async def log_every_command(client: redis.asyncio.Redis) -> None:
    await client.config_set("slowlog-max-len", 100_000)
    await client.config_set("slowlog-log-slower-than", 0)
    await client.slowlog_reset()


async def longest_script(client: redis.asyncio.Redis) -> float:
    """The longest script run since `log_every_command` (seconds); logging stops. Redis runs one
    script at a time: this is how long it kept every other client waiting."""
    await client.config_set("slowlog-log-slower-than", 10_000)  # Redis's default
    entries = await client.slowlog_get(100_000)
    # redis-py gives the command as bytes here even with decode_responses; str() would not do.
    commands = [(entry["command"], int(entry["duration"])) for entry in entries]
    names = [(c.decode() if isinstance(c, bytes) else str(c), d) for c, d in commands]
    return max(d for name, d in names if name.startswith("EVALSHA")) / 1e6


async def floor_before_activation(
    client: redis.asyncio.Redis, rules: RuleSet, waiting: int
) -> tuple[int, int, int]:
    """The packaged rules active, `waiting` callers placed by them (one in 20 on offer, one in
    ten a callback), every skill on duty (nobody overflows); returns the version without dental
    (stored, not active), and how many are on offer and callbacks."""
    book = RuleBook(client, Audit(client), rules)
    await book.seed(T0)
    await staff(client, len(SKILL_MIX), T0, (HandlerState.BUSY,))
    placed = await queue_callers(client, rules, waiting, T0)
    await staff(client, waiting // 20, T0, (HandlerState.AVAILABLE,), first=len(SKILL_MIX))
    offers = await Assigner(client).assign(rules, T0, max_pairs=waiting // 20)
    callbacks, booked = Callbacks(client, numbers=NUMBERS), 0
    for member, placement in placed[::10]:
        number = caller(int(member[2:], 16))
        booking = await callbacks.convert(
            member, case_id_for(member), number, number, placement, rules.callbacks, T0
        )
        booked += booking is not None
    version = await book.create(canonical(without_dental(rules)), "bench", T0)
    return version.number, len(offers), booked


async def zadds(client: redis.asyncio.Redis, count: int) -> float:
    """The least re-placing `count` members costs: their ZADDs, in one pipeline (at 0, one PING)."""
    key = f"{keys.PREFIX}:bench:placed"
    started = time.perf_counter()
    if count:
        async with client.pipeline(transaction=False) as pipe:
            for n in range(count):
                pipe.zadd(key, {sid(n): 3e13 + n})
            await pipe.execute()
    else:
        await client.ping()
    elapsed = time.perf_counter() - started
    await client.delete(key)
    return elapsed


async def measure_activation(
    client: redis.asyncio.Redis, waiting: int, repeats: int = 5
) -> ActivationRun:
    rules = default_rules()
    activations: list[float] = []
    baseline: list[float] = []
    scripts: list[float] = []
    for _ in range(repeats):
        await client.flushall()
        number, on_offer, callbacks = await floor_before_activation(client, rules, waiting)
        await log_every_command(client)
        started = time.perf_counter()
        done = await activate(
            client, RuleBook(client, Audit(client), rules), number, "bench", T0 + 1
        )
        activations.append(time.perf_counter() - started)
        scripts.append(await longest_script(client))
        baseline.append(await zadds(client, waiting))
        assert await client.zcard(keys.queue("dental")) == 0
    return ActivationRun(waiting, on_offer, callbacks, done.moved, activations, baseline, scripts)


async def busy_day(client: redis.asyncio.Redis, rules: RuleSet, count: int) -> None:
    """`count` calls through the day, through the real scripts: each queued (an offered sample),
    then answered by the one handler (answered) or, one in 25, hung up (abandoned)."""
    rng, calls, offers = random.Random(1), Calls(client, numbers=NUMBERS), Offers(client)
    assigner, handlers = Assigner(client), Handlers(client)
    everything = {skill: 3 for skill in rules.skills}
    await staff(client, 1, T0, (HandlerState.AVAILABLE,), (everything,))
    spacing = (DAY - 300) / count  # every wait ends by the day's last second
    for n in range(count):
        arrival = T0 + n * spacing
        said = answers(rng)
        placement = rules.place(CallFacts.of(said, LINE, arrival))
        call = Call(sid=sid(n), caller=caller(n), line=LINE, answers=said)
        await calls.enqueue(call, placement, arrival)
        if n % 25 == 24:
            await calls.finish(sid(n), arrival + rng.uniform(10, 240))
            continue
        at = arrival + rng.uniform(5, 240)
        [offer] = await assigner.assign(rules, at, max_pairs=1)
        assert await offers.answered(offer.member, offer.handler, offer.offer, at)
        await handlers.transition(offer.handler, HandlerState.AVAILABLE, at, (HandlerState.BUSY,))


@dataclass(frozen=True)
class StatsRun:
    calls: int
    samples: int
    setup: float
    ping: list[float]
    reads: dict[str, list[float]]  # by label: 15m, 1h, today (a process's first), today again
    server: float  # Redis's own time to send a process the whole day's samples (µs)
    offered: dict[Window, int]  # calls offered in each window, to show its size


async def measure_stats(client: redis.asyncio.Redis, calls: int = 4_000) -> StatsRun:
    await client.flushall()
    rules = default_rules()
    started = time.perf_counter()
    await busy_day(client, rules, calls)
    setup = time.perf_counter() - started
    now = T0 + DAY - 1
    stats = Stats(client)
    whole = await stats.report(Window.TODAY, now)
    assert whole.total.offered == calls, whole.total
    assert whole.total.answered + whole.total.abandoned == calls, whole.total

    async def first_read() -> object:  # a process with nothing kept yet
        return await Stats(client).report(Window.TODAY, now)

    async def read(window: Window) -> object:
        return await stats.report(window, now)

    ping = await timed(client.ping, 250)
    reads = {
        "15m": await timed(lambda: read(Window.LAST_15_MINUTES), 300),
        "1h": await timed(lambda: read(Window.LAST_HOUR), 300),
        "today, read again (kept)": await timed(lambda: read(Window.TODAY), 300),
    }
    await client.config_resetstat()
    reads["today, a process's first read"] = await timed(first_read, 100)
    server = await server_time(client, "zrangebyscore")
    ping += await timed(client.ping, 250)
    samples = int(await client.zcard(keys.STATS_SAMPLES))
    offered = {window: (await stats.report(window, now)).total.offered for window in Window}
    return StatsRun(calls, samples, setup, ping, reads, server, offered)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.3f} ms"


async def run(redis_url: str) -> None:
    """Measure and print each part as it finishes."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        print("\nfloor: a waiting caller's position (standing, one Lua script) against ZRANK")
        for callers, handlers in ((100, 10), (100, 60), (1_000, 10), (1_000, 60)):
            s = await measure_standing(client, callers, handlers)
            rate, base = len(s.standing) / sum(s.standing), len(s.zrank) / sum(s.zrank)
            print(
                f"  {callers:>5} waiting, {handlers:>2} on duty: standing {rate:6.0f}/s "
                f"p50 {ms(p(s.standing, 0.5))} p99 {ms(p(s.standing, 0.99))} | ZRANK {base:6.0f}/s "
                f"p50 {ms(p(s.zrank, 0.5))} | rate {rate / base:4.2f} of ZRANK's, "
                f"p50 {p(s.standing, 0.5) / p(s.zrank, 0.5):4.2f}x | middle caller of general: "
                f"position {s.position} (ZRANK + 1: {s.rank})"
            )
            print(
                f"        Redis's own time per call: standing {s.server[0]:.1f} µs, "
                f"ZRANK {s.server[1]:.1f} µs"
            )
        print("\nfloor: activating a version without dental against the same number of ZADDs")
        for waiting in (0, 100, 1_000):
            a = await measure_activation(client, waiting)
            took, least = p(a.activation, 0.5), p(a.zadds, 0.5)
            print(
                f"  {waiting:>5} waiting ({a.on_offer} on offer, {a.callbacks} callbacks, "
                f"{a.moved} moved): activate p50 {ms(took)} (min {ms(min(a.activation))}, "
                f"max {ms(max(a.activation))}) | {'ZADDs' if waiting else 'PING'} p50 "
                f"{ms(least)} | {took / least:6.1f}x"
            )
            print(f"        its Lua step held Redis for p50 {ms(p(a.script, 0.5))}")
        st = await measure_stats(client)
        trip = p(st.ping, 0.5)
        print(
            f"\nfloor: statistics over {st.calls} calls in a day ({st.samples} samples, set up "
            f"through the real scripts in {st.setup:.1f} s) against one PING (p50 {ms(trip)}); "
            f"calls offered in 15m / 1h / today: {' / '.join(map(str, st.offered.values()))}"
        )
        for label, seconds in st.reads.items():
            print(
                f"  {label:<30} p50 {ms(p(seconds, 0.5))} p99 {ms(p(seconds, 0.99))} "
                f"| {p(seconds, 0.5) / trip:7.1f} PINGs"
            )
        print(f"  Redis's own time to send a first read the day's samples: {st.server:.0f} µs")
    finally:
        await client.aclose()
