"""The wallboard's figures: labelled for what they are, the priority-1 time to reach with its p95,
terminated apart from abandoned, and a chart of the last hour that adds up to the "1h" figures."""

from __future__ import annotations

import pytest
import redis.asyncio

from console.web.charts import last_hour
from routing.clock import VirtualClock
from routing.figures import Window
from routing.handlers import HandlerState
from routing.stats import Stats
from tests.console.web.people import Person
from tests.console.web.test_supervisor_pages import events
from tests.ivr.test_clinician_callbacks import callback_leg, handler_api, hang_up, on_a_call
from tests.ivr.test_connecting import sweep
from tests.routing.test_assignment import sid
from tests.routing.test_stats import NOW, a_quarter_hour, abandoned, answered
from tests.staff import Staff
from tests.twilio import TwilioClient


def test_the_wallboard_says_which_figure_is_which_and_shows_the_p1_time_to_reach(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    a_quarter_hour(redis_url, clock.now())

    page = supervisor.get("/console/wallboard?window=15m").text

    for label in (
        "Offered (entered the queue)",
        "Service level: answered within 60 s, of answered",
        "Answer p95",
        "Abandoned (any wait)",
        "Abandoned after 30 s (of offered)",
        "P1 time to reach a handler or the dispatch line",
    ):
        assert f'<th scope="col" class="num">{label}</th>' in page
    # priority 1: answered after 20 s and dispatched after 35 s, both "reached"
    assert "2 reached, 100% within 60 s; average 28 s, p95 35 s, longest 35 s" in page
    # general: abandoned after 40 s, 1 of the 2 calls offered
    assert '<td class="num">1 (50%) <span class="miss">over target</span></td>' in page
    assert '<td class="num">100% (1 of 1)</td>' in page  # general: answered after 10 s
    assert "<strong>1</strong> terminated in the IVR: ended before entering a queue" in page


@pytest.mark.anyio
async def test_the_chart_of_the_last_hour_adds_up_to_the_hours_figures(
    aredis: redis.asyncio.Redis,
) -> None:
    await abandoned(aredis, sid(1), NOW - 3700, 99)  # queued and abandoned before the hour
    await answered(aredis, sid(2), NOW - 3630, 30)  # queued before it, answered at NOW - 3600
    await abandoned(aredis, sid(3), NOW - 1000, 40)
    await answered(aredis, sid(4), NOW - 20, 20)  # answered at NOW, in its last minute

    stats = Stats(aredis)
    minutes = await last_hour(stats, NOW)
    hour = (await stats.report(Window.LAST_HOUR, NOW)).total

    assert minutes[0].start == NOW - 3600 - 30  # NOW is 30 s past a minute
    assert minutes[-1].start == NOW - 30
    assert (minutes[0].answered, minutes[-1].answered) == (1, 1)
    assert sum(m.offered for m in minutes) == hour.offered == 2
    assert sum(m.answered for m in minutes) == hour.answered == 2
    assert sum(m.abandoned for m in minutes) == hour.abandoned == 1


def immediate_callback(
    twilio: TwilioClient, redis_url: str, staff: Staff, handler: str, caller: str
) -> str:
    """A handler, the only one free, takes a call, arranges an immediate clinician's callback
    for the caller, and wraps up going offline."""
    staff(handler, state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, handler, caller)
    api = handler_api(twilio, redis_url, handler)
    base = f"/api/v1/handlers/{handler}"
    made = api.send("POST", f"{base}/clinician-callback", {"urgency": "immediate"}, 201)
    hang_up(twilio, call, connect)
    api.send("POST", f"{base}/wrap-up", {"outcome": "callback_arranged", "available": False})
    return str(made["callback"])


def clinicians_tile(page: str) -> str:
    return page.split('id="clinicians-heading"')[1].split("</section>")[0]


def test_the_wallboard_shows_todays_share_of_immediate_requests_met_within_20_minutes(
    supervisor: Person, twilio: TwilioClient, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    met = immediate_callback(twilio, redis_url, staff, "h1", "+447700900001")
    clock.advance(600)
    staff("c1", state=HandlerState.AVAILABLE, skills={"clinician": 3})
    sweep(redis_url, clock.now())
    callback_leg(twilio, "/twilio/callback/answer", met, "c1", "handler")
    callback_leg(twilio, "/twilio/callback/greet", met, "c1", "patient", AnsweredBy="human")

    reached = clinicians_tile(supervisor.get("/console/wallboard").text)

    assert ">Clinician within 20 minutes (today)</h2>" in reached
    assert '<p class="figure" id="clinician-share">100% (1 of 1)</p>' in reached
    assert "<dt>Met</dt><dd>1</dd>" in reached

    immediate_callback(twilio, redis_url, staff, "h2", "+447700900002")  # never reached: missed
    clock.advance(1201)
    immediate_callback(twilio, redis_url, staff, "h3", "+447700900003")  # just asked: open
    clock.advance(1)  # the figures run up to now, not including it
    live = events(supervisor, "/console/events/wallboard?once=1")["floor"]

    for tile in (clinicians_tile(supervisor.get("/console/wallboard").text), clinicians_tile(live)):
        assert (
            '<p class="figure" id="clinician-share">50% (1 of 2) '
            '<span class="miss">below target</span></p>'
        ) in tile
        assert "<dt>Met</dt><dd>1</dd>" in tile
        assert '<dt>Missed</dt><dd class="alert-text">1</dd>' in tile
        assert "<dt>Open</dt><dd>1</dd>" in tile
