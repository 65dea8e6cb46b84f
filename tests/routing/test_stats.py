"""Statistics: exact windows and percentiles from one sample per event, checked on real Redis by
driving the transitions' own scripts. README.md "Statistics" defines every figure."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
import redis.asyncio

from prompts.catalogue import Locale
from routing import keys
from routing.assignment import Assigner
from routing.callbacks import Callbacks
from routing.calls import Calls, Finish
from routing.figures import CallbackFigures, Figures, Measures, Window, nearest_rank
from routing.lua import STATS, Script, script
from routing.models import Answers, Call, Placement, Priority, Reason, Screen, case_id_for
from routing.offers import Offers
from routing.rules import default_rules
from routing.stats import Stats
from tests.conftest import NUMBERS
from tests.routing.test_assignment import hire, sid

pytestmark = pytest.mark.anyio

RULES = default_rules()
CALLER, LINE = "+447700900123", "+441134960000"
# 13:00:30 GMT: half-way through a minute, so that now - 900 and now - 901 fall in one clock
# minute (minute buckets would count both or neither).
NOW = datetime(2026, 1, 15, 13, 0, 30, tzinfo=UTC).timestamp()


async def enqueue(
    client: redis.asyncio.Redis,
    call: str,
    queue: str,
    priority: int,
    at: float,
    redial: bool = False,
) -> None:
    answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
    placement = Placement(route="test", queue=queue, priority=Priority(priority))
    queued = Call(sid=call, caller=CALLER, line=LINE, answers=answers)
    await Calls(client, numbers=NUMBERS).enqueue(queued, placement, at, redial=redial)


async def answer(client: redis.asyncio.Redis, call: str, at: float) -> None:
    """A handler comes free and answers the call (the only one waiting) at `at`."""
    await hire(client, f"h-{call[-8:].lower()}", available_at=at)
    [offer] = await Assigner(client).assign(RULES, at)
    assert offer.member == call
    assert await Offers(client).answered(offer.member, offer.handler, offer.offer, at)


async def answered(
    client: redis.asyncio.Redis,
    call: str,
    arrival: float,
    wait: float,
    queue: str = "general",
    priority: int = 3,
) -> None:
    await enqueue(client, call, queue, priority, arrival)
    await answer(client, call, arrival + wait)


async def answered_after_dispatch(
    client: redis.asyncio.Redis, call: str, arrival: float, wait: float
) -> None:
    """A priority-1 caller put through to the dispatch line, which never answered, then back in
    their place and answered by a handler within the limit counted from that try."""
    await enqueue(client, call, "emergency", 1, arrival)
    tried = arrival + wait - RULES.emergency.handler_limit_seconds + 1
    assert await Calls(client).dispatch(call, tried)
    await enqueue(client, call, "emergency", 1, tried + 0.5, redial=True)
    await answer(client, call, arrival + wait)


async def abandoned(client: redis.asyncio.Redis, call: str, arrival: float, wait: float) -> None:
    await enqueue(client, call, "general", 3, arrival)
    assert await Calls(client).finish(call, arrival + wait) is Finish.ABANDONED


async def terminated(client: redis.asyncio.Redis, call: str, at: float) -> None:
    """The caller hangs up during the IVR's questions, before being queued."""
    calls = Calls(client, numbers=NUMBERS)
    await calls.open(call, CALLER, LINE, Locale.EN, at)
    assert await calls.finish(call, at + 5) is Finish.IVR_HANGUP


def a_quarter_hour(redis_url: str, now: float) -> None:
    """For the consoles' tests, within the 15 minutes before `now`: in general, one call answered
    after 10 s and one abandoned after 40 s; one call terminated in the IVR; at priority 1, one
    answered after 20 s and one sent to the dispatch line after 35 s."""

    async def play() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await answered(client, sid(1), now - 600, 10)
            await abandoned(client, sid(2), now - 500, 40)
            await terminated(client, sid(3), now - 450)
            await answered(client, sid(4), now - 400, 20, "emergency", 1)
            await enqueue(client, sid(5), "emergency", 1, now - 300)
            assert await Calls(client).dispatch(sid(5), now - 265)
        finally:
            await client.aclose()

    asyncio.run(play())


def row(figures: list[Figures], queue: str, priority: int) -> Figures:
    [found] = [f for f in figures if (f.queue, f.priority) == (queue, priority)]
    return found


async def test_every_figure_of_a_small_scenario_as_worked_out_by_hand(
    aredis: redis.asyncio.Redis,
) -> None:
    s = NOW - 800  # everything below happens within the last 15 minutes
    # general, priority 3: A, B, C answered after 10, 50 and 70 s; D and E abandoned after 20
    # and 40 s; I diverted by overflow as it arrived (a wait of 0).
    await answered(aredis, sid(1), s, 10)
    await answered(aredis, sid(2), s + 20, 50)
    await answered(aredis, sid(3), s + 80, 70)
    await abandoned(aredis, sid(4), s + 160, 20)
    await abandoned(aredis, sid(5), s + 200, 40)
    await terminated(aredis, sid(6), s + 250)  # F: hung up in the IVR
    # emergency, priority 1: G answered after 20 s, H sent to the dispatch line after 35 s.
    await answered(aredis, sid(7), s + 300, 20, "emergency", 1)
    await enqueue(aredis, sid(8), "emergency", 1, s + 330)
    assert await Calls(aredis).dispatch(sid(8), s + 365)
    await enqueue(aredis, sid(9), "general", 3, s + 400)
    assert await Calls(aredis).dispatch(sid(9), s + 400, diverted=True)

    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)

    assert report.terminated == 1  # F, in no queue's figures and not abandoned
    # general/3: offered A B C D E I = 6; answered 3, within 60 s 2 (10, 50): service level 2/3;
    # average answer (10 + 50 + 70) / 3 = 43.33 s; p95 of 3 waits by nearest rank: the
    # ceil(2.85) = 3rd, 70 s. Abandoned 2, after 30 s 1 (E, 40 s): 1 of 6 offered. Longest
    # ended wait 70 s.
    assert row(report.figures, "general", 3) == Figures(
        queue="general",
        priority=3,
        offered=6,
        answered=3,
        answered_within_60s=2,
        service_level=2 / 3,
        average_speed_of_answer=130 / 3,
        answer_p95=70,
        abandoned=2,
        abandoned_after_30s=1,
        abandoned_after_30s_rate=1 / 6,
        diverted=1,
        longest_wait=70,
    )
    # emergency/1: offered G H = 2; answered 1 (20 s); dispatched 1 (35 s). Time to reach
    # covers both: 2 reached, both within 60 s; average 27.5 s; p95 the ceil(1.9) = 2nd, 35 s.
    assert row(report.figures, "emergency", 1) == Figures(
        queue="emergency",
        priority=1,
        offered=2,
        answered=1,
        answered_within_60s=1,
        service_level=1.0,
        average_speed_of_answer=20,
        answer_p95=20,
        abandoned_after_30s_rate=0.0,  # none of the 2 offered
        dispatched=1,
        longest_wait=35,
        p1_reached=2,
        p1_reached_within_60s=2,
        p1_reached_within_60s_rate=1.0,
        p1_average_time_to_reach=27.5,
        p1_p95_time_to_reach=35,
        p1_longest_time_to_reach=35,
    )
    # All queues: offered 8; answered 4 (10, 20, 50, 70), 3 within 60 s: 0.75; average 37.5 s;
    # p95 the ceil(3.8) = 4th, 70 s; abandoned after 30 s 1 of 8 offered.
    assert report.total == Measures(
        offered=8,
        answered=4,
        answered_within_60s=3,
        service_level=0.75,
        average_speed_of_answer=37.5,
        answer_p95=70,
        abandoned=2,
        abandoned_after_30s=1,
        abandoned_after_30s_rate=1 / 8,
        dispatched=1,
        diverted=1,
        longest_wait=70,
        p1_reached=2,
        p1_reached_within_60s=2,
        p1_reached_within_60s_rate=1.0,
        p1_average_time_to_reach=27.5,
        p1_p95_time_to_reach=35,
        p1_longest_time_to_reach=35,
    )


async def test_within_60_s_includes_60_s_and_after_30_s_excludes_30_s(
    aredis: redis.asyncio.Redis,
) -> None:
    await answered(aredis, sid(1), NOW - 800, 60)
    await answered(aredis, sid(2), NOW - 700, 60.001)
    await abandoned(aredis, sid(3), NOW - 600, 30)
    await abandoned(aredis, sid(4), NOW - 500, 30.001)
    await answered_after_dispatch(aredis, sid(5), NOW - 400, 60)
    await enqueue(aredis, sid(6), "emergency", 1, NOW - 300)
    assert await Calls(aredis).dispatch(sid(6), NOW - 300 + 60.001)

    total = (await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)).total

    assert (total.answered, total.answered_within_60s) == (3, 2)
    assert (total.abandoned, total.abandoned_after_30s) == (2, 1)
    assert (total.p1_reached, total.p1_reached_within_60s) == (2, 1)


async def test_a_wait_is_timed_from_entering_the_queue_not_from_the_start_of_the_call(
    aredis: redis.asyncio.Redis,
) -> None:
    await Calls(aredis, numbers=NUMBERS).open(sid(1), CALLER, LINE, Locale.EN, NOW - 100)
    await enqueue(aredis, sid(1), "general", 3, NOW - 70)  # 30 s of IVR questions first
    await answer(aredis, sid(1), NOW - 60)
    total = (await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)).total
    assert total.average_speed_of_answer == 10


async def test_windows_are_exact_to_the_second_at_both_edges(aredis: redis.asyncio.Redis) -> None:
    times = [NOW - 3601, NOW - 3600, NOW - 901, NOW - 900, NOW, NOW + 1]
    for n, at in enumerate(times):
        await enqueue(aredis, sid(n), "general", 3, at)
    stats = Stats(aredis)

    fifteen = await stats.report(Window.LAST_15_MINUTES, NOW)
    hour = await stats.report(Window.LAST_HOUR, NOW)

    assert (fifteen.since, fifteen.until) == (NOW - 900, NOW)
    assert fifteen.total.offered == 2  # NOW - 900 and NOW; not NOW - 901, nor NOW + 1
    assert (hour.since, hour.total.offered) == (NOW - 3600, 4)  # from NOW - 3600 to NOW


async def test_a_wait_counts_in_the_window_it_ended_in(aredis: redis.asyncio.Redis) -> None:
    await answered(aredis, sid(1), NOW - 1000, 101)  # queued before the window, answered at -899
    await abandoned(aredis, sid(2), NOW - 960, 59)  # abandoned at NOW - 901: before the window
    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)
    assert (report.total.offered, report.total.answered, report.total.abandoned) == (0, 1, 0)
    assert report.total.average_speed_of_answer == 101


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        # Winter: London is on GMT, so its midnight is UTC's.
        (datetime(2026, 1, 15, 9, 0, tzinfo=UTC), datetime(2026, 1, 15, 0, 0, tzinfo=UTC)),
        # Summer: BST, an hour ahead: today began at 23:00 UTC the day before.
        (datetime(2026, 7, 15, 8, 0, tzinfo=UTC), datetime(2026, 7, 14, 23, 0, tzinfo=UTC)),
        # The clocks went forward at 01:00 GMT: midnight was still GMT (a 23-hour day).
        (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        # The clocks go back at 01:00 GMT: midnight was still BST (a 25-hour day).
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
    ],
)
async def test_today_starts_at_midnight_in_london_in_winter_and_summer(
    aredis: redis.asyncio.Redis, now: datetime, midnight: datetime
) -> None:
    await enqueue(aredis, sid(1), "general", 3, midnight.timestamp() - 1)
    await enqueue(aredis, sid(2), "general", 3, midnight.timestamp())
    await enqueue(aredis, sid(3), "general", 3, now.timestamp())

    report = await Stats(aredis).report(Window.TODAY, now.timestamp())

    assert report.since == midnight.timestamp()
    assert report.total.offered == 2


async def reads_of_samples(client: redis.asyncio.Redis) -> int:
    commands = await client.info("commandstats")
    return int(commands.get("cmdstat_zrangebyscore", {}).get("calls", 0))


async def test_today_is_read_again_only_after_a_write_and_misses_none(
    aredis: redis.asyncio.Redis,
) -> None:
    stats = Stats(aredis)
    await enqueue(aredis, sid(1), "general", 3, NOW - 100)
    assert (await stats.report(Window.TODAY, NOW)).total.offered == 1
    reads = await reads_of_samples(aredis)
    assert (await stats.report(Window.TODAY, NOW + 5)).until == NOW + 5
    assert await reads_of_samples(aredis) == reads  # nothing was written: nothing read again

    await enqueue(aredis, sid(2), "general", 3, NOW - 50)  # timed before the last read
    assert (await stats.report(Window.TODAY, NOW + 5)).total.offered == 2
    await enqueue(aredis, sid(3), "general", 3, NOW + 10)  # by a process whose clock is ahead
    assert (await stats.report(Window.TODAY, NOW + 9)).total.offered == 2
    assert (await stats.report(Window.TODAY, NOW + 10)).total.offered == 3
    tomorrow = datetime(2026, 1, 16, 0, 0, 1, tzinfo=UTC).timestamp()
    assert (await stats.report(Window.TODAY, tomorrow)).total.offered == 0


@pytest.mark.parametrize(
    ("values", "p95"),
    [
        ([], None),
        ([7.0], 7.0),
        ([float(n) for n in range(1, 20)], 19.0),  # fewer than 20: the largest
        ([float(n) for n in range(1, 21)], 19.0),  # the ceil(19.0) = 19th of 20
        ([float(n) for n in range(1, 22)], 20.0),  # the ceil(19.95) = 20th of 21
        ([float(n) for n in range(1, 101)], 95.0),
    ],
)
def test_p95_is_the_nearest_rank(values: list[float], p95: float | None) -> None:
    assert nearest_rank(values) == p95


async def test_the_answer_p95_of_twenty_calls_is_the_nineteenth_wait(
    aredis: redis.asyncio.Redis,
) -> None:
    for n in range(1, 21):  # waits of 1 to 20 s; interpolating would give 19.05
        await answered(aredis, sid(n), NOW - 800 + 30 * n, n)
    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)
    assert (report.total.answered, report.total.answer_p95) == (20, 19)


async def test_a_repeated_final_webhook_counts_the_call_once(aredis: redis.asyncio.Redis) -> None:
    await abandoned(aredis, sid(1), NOW - 100, 40)
    await terminated(aredis, sid(2), NOW - 60)
    calls = Calls(aredis, numbers=NUMBERS)
    assert await calls.finish(sid(1), NOW - 10) is None  # Twilio's status callback, again
    assert await calls.finish(sid(2), NOW - 10) is None

    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)

    assert (report.total.abandoned, report.total.abandoned_after_30s) == (1, 1)
    assert report.total.longest_wait == 40  # the wait as it ended, not as the repeat found it
    assert report.terminated == 1


# The helpers as another script calls them, run twice as if a script's guard had let a repeat
# through: each event must still count once.
_REPEAT = script(
    STATS,
    """
if a.what == 'waited' then call_waited(KEYS[1], a.outcome) end
if a.what == 'count' then count('callbacks', a.priority, a.outcome, 1) end
return 1
""",
)


async def test_an_event_recorded_twice_is_counted_once_even_past_the_scripts_guards(
    aredis: redis.asyncio.Redis,
) -> None:
    await enqueue(aredis, sid(1), "general", 3, NOW - 100)
    repeat = Script(aredis, _REPEAT)
    # The call's wait ends at -60 and "again" at -30; a callback is cancelled in class 3, and
    # "again" in class 2 (a different sample, the same event).
    for at, priority in ((NOW - 60, "3"), (NOW - 30, "2")):
        waited = {"sid": sid(1), "now": repr(at), "what": "waited", "outcome": "abandoned"}
        await repeat(keys=[keys.call(sid(1))], args=[json.dumps(waited)])
        counted = {"id": "CB-1", "now": repr(at), "what": "count", "outcome": "cancelled"}
        await repeat(args=[json.dumps({**counted, "priority": priority})])  # subject: its id

    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)
    [callbacks] = await Stats(aredis).callbacks(Window.LAST_15_MINUTES, NOW)

    assert (report.total.abandoned, report.total.longest_wait) == (1, 70)  # the last ending
    assert (callbacks.priority, callbacks.cancelled) == (3, 1)


async def test_a_p1_call_whose_dispatch_line_never_answered_counts_once_as_answered(
    aredis: redis.asyncio.Redis,
) -> None:
    calls = Calls(aredis, numbers=NUMBERS)
    await enqueue(aredis, sid(1), "emergency", 1, NOW - 300)
    assert await calls.dispatch(sid(1), NOW - 290)  # sent to the dispatch line after 10 s
    # The line never answered: the call goes back to its place, and a handler takes it (within
    # the limit again, counted from the try).
    await enqueue(aredis, sid(1), "emergency", 1, NOW - 280, redial=True)
    await answer(aredis, sid(1), NOW - 265)

    report = await Stats(aredis).report(Window.LAST_15_MINUTES, NOW)

    [emergency] = report.figures
    assert (emergency.offered, emergency.dispatched, emergency.answered) == (1, 0, 1)
    assert (emergency.p1_reached, emergency.p1_longest_time_to_reach) == (1, 35)


async def test_callback_events_count_once_per_callback(aredis: redis.asyncio.Redis) -> None:
    callbacks = Callbacks(aredis, numbers=NUMBERS)
    await enqueue(aredis, sid(1), "general", 2, NOW - 700)
    await callbacks.offered(sid(1), Priority.URGENT, NOW - 600)
    await callbacks.offered(sid(1), Priority.URGENT, NOW - 500)  # offered again in the hold loop
    placement = Placement(route="test", queue="general", priority=Priority.URGENT)
    booking = await callbacks.convert(
        sid(1), case_id_for(sid(1)), CALLER, CALLER, placement, RULES.callbacks, NOW - 400
    )
    assert booking is not None
    assert await callbacks.cancel(booking.callback, "sue", "duplicate", NOW - 300) == "cancelled"
    assert await callbacks.cancel(booking.callback, "sue", "again", NOW - 200) != "cancelled"

    stats = Stats(aredis)
    report = await stats.report(Window.LAST_15_MINUTES, NOW)

    assert await stats.callbacks(Window.LAST_15_MINUTES, NOW) == [
        CallbackFigures(priority=2, offered=1, accepted=1, cancelled=1)
    ]
    # The call became a callback: offered to the queue, but neither answered nor abandoned.
    assert (report.total.offered, report.total.answered, report.total.abandoned) == (1, 0, 0)


async def test_samples_older_than_two_days_are_trimmed_as_new_ones_are_written(
    aredis: redis.asyncio.Redis,
) -> None:
    await enqueue(aredis, sid(1), "general", 3, NOW - keys.STATS_KEEP_SECONDS - 1)
    await enqueue(aredis, sid(2), "general", 3, NOW)
    assert await aredis.zrange(keys.STATS_SAMPLES, 0, -1) == [
        f"{NOW!r}|offered|general|3|1.000|{sid(2)}"
    ]
    assert await aredis.zcard(keys.STATS_SEEN) == 1
    assert 0 < await aredis.ttl(keys.STATS_SAMPLES) <= keys.STATS_KEEP_SECONDS
