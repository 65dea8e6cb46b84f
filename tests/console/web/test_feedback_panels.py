"""The patients' feedback today on the consoles: the wallboard's panel per queue and for the line
(asked, answered, and very good or good of all answers, as NHS England counts it), kept live; a
handler's console shows their own answers and nobody else's."""

from __future__ import annotations

import re

from routing.clock import VirtualClock
from tests.console.test_recordings_api import A_DAY, count
from tests.console.web.people import Person
from tests.console.web.test_supervisor_pages import events
from tests.staff import Staff


def feedback_row(html: str, name: str) -> list[str]:
    """The cells of a queue's row (or the line's) in the feedback panel."""
    start = html.index(f'<th scope="row">{name}</th>', html.index('id="feedback-heading"'))
    cells = html[start : html.index("</tr>", start)]
    return re.findall(r'<td class="num">([^<]*)</td>', cells)


def test_the_wallboard_shows_todays_feedback_per_queue_and_for_the_line(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    count(redis_url, clock.now(), *A_DAY)

    page = supervisor.get("/console/wallboard").text

    assert '<h2 id="feedback-heading">Patient feedback today</h2>' in page
    assert feedback_row(page, "general") == ["4", "4", "75%"]
    assert feedback_row(page, "dental") == ["3", "2", "0%"]
    assert feedback_row(page, "mental_health") == ["0", "0", "\u2013"]  # nobody asked
    assert feedback_row(page, "The line") == ["7", "6", "50%"]
    assert "of all answers, &ldquo;don&rsquo;t know&rdquo; included" in page


def test_the_wallboards_feedback_is_kept_live(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    before = supervisor.get("/console/wallboard").text
    assert feedback_row(before, "The line") == ["0", "0", "\u2013"]
    count(redis_url, clock.now(), *A_DAY)

    live = events(supervisor, "/console/events/wallboard?once=1")

    assert feedback_row(live["feedback"], "general") == ["4", "4", "75%"]
    assert feedback_row(live["feedback"], "The line") == ["7", "6", "50%"]


def test_a_handler_sees_their_own_feedback_today_and_nobody_elses(
    handler_person: Person, staff: Staff, redis_url: str, clock: VirtualClock
) -> None:
    staff("h1", "h2")
    empty = handler_person.get("/console/handler").text
    assert "No answers yet today (0 asked)." in empty
    count(redis_url, clock.now(), *A_DAY)  # h1: 4 of 4 answered, 3 good; h2: 2 of 3, none

    page = handler_person.get("/console/handler").text
    live = events(handler_person, "/console/handler/events?once=1")["handler-feedback"]

    mine = "<strong>75%</strong> very good or good, of <strong>4</strong> answers today (4 asked)."
    assert mine in page
    assert mine in live
    for theirs in ("0%", "<strong>2</strong> answers", "3 asked", "dental", "h2"):
        assert theirs not in live
    assert 'id="feedback-heading"' in page
