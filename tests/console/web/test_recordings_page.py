"""The recordings page: a supervisor searches by case, the caller's last digits, handler and a
London time window; each recording shown with what it was, the caller masked, and a player
when there is audio; a search that cannot be read said beside its field, never a server error;
the retention period stated; only for supervisors."""

from __future__ import annotations

import re

import pytest

from tests.console.recording_line import add_recordings
from tests.console.test_recordings_api import A, B, C, D
from tests.console.web.people import Person

ROW = re.compile(r'<tr id="recording-RE([a-z0-9])')


def shown(page: str) -> list[str]:
    """The recordings listed (the letter their sid is made of), in order."""
    return ROW.findall(page)


@pytest.fixture
def four(redis_url: str) -> None:
    add_recordings(redis_url, A, B, C, D)


@pytest.mark.usefixtures("four")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["d", "c", "b", "a"]),
        ("case_id=C-1", ["c", "a"]),
        ("case_id=+C-1+", ["c", "a"]),  # as pasted, spaces and all
        ("digits=123", ["c", "a"]),
        ("digits=0123", ["c", "a"]),
        ("handler=h2", ["c", "b"]),
        ("case_id=C-1&handler=h2", ["c"]),
        # From the form's London times: 13:30 to 14:30 London is 12:30 to 13:30 UTC in July.
        ("since=2026-07-01T13:30&until=2026-07-01T14:30", ["a"]),
        ("since=2026-07-01T15:30&until=2026-07-01T16:30", ["b"]),
        ("since=2026-07-02T00:00", ["d", "c"]),
        ("case_id=nobody", []),
    ],
)
def test_a_supervisor_finds_recordings_newest_first(
    supervisor: Person, query: str, expected: list[str]
) -> None:
    page = supervisor.get(f"/console/recordings?{query}")

    assert page.status_code == 200
    assert shown(page.text) == expected
    if not expected:
        assert "No recordings match." in page.text


@pytest.mark.usefixtures("four")
def test_each_recording_says_when_what_whose_and_offers_a_player_only_with_audio(
    supervisor: Person,
) -> None:
    page = supervisor.get("/console/recordings").text

    a = row(page, A.sid)
    assert '<th scope="row">Wed 1 Jul 2026, 14:00:00</th>' in a  # London, in summer time
    for cell in ("Handler conversation", "C-1", "h1", "general", "…123", "1 min 05 s"):
        assert f"<td>{cell}</td>" in a or f'<td class="num">{cell}</td>' in a, cell
    assert (
        f'<audio controls preload="none" src="/console/recordings/{A.sid}/audio"'
        f' aria-label="Recording of case C-1, Wed 1 Jul 2026, 14:00:00"></audio>'
    ) in a
    assert "<td>Callback</td>" in row(page, B.sid)
    assert "<td>…456</td>" in row(page, B.sid)
    c = row(page, C.sid)
    assert "<td>Emergency to dispatch</td>" in c
    assert "<td>absent</td>" in c
    assert "No audio: Twilio found nothing to keep" in c
    assert "<audio" not in c
    d = row(page, D.sid)
    assert "<td>withheld</td>" in d
    assert "No audio: the recording failed" in d
    assert "<audio" not in d
    assert "+447700900" not in page


def row(page: str, sid: str) -> str:
    start = page.index(f'<tr id="recording-{sid}">')
    return page[start : page.index("</tr>", start)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=last+tuesday", "since", "Enter a date and time such as 2026-01-31T14:30"),
        ("until=2026-02-30T10:00", "until", "Enter a date and time such as 2026-01-31T14:30"),
        ("digits=12", "digits", "Enter the last 3 or 4 digits of the caller&#39;s number"),
        ("digits=12345", "digits", "Enter the last 3 or 4 digits"),
        ("digits=abc", "digits", "Enter the last 3 or 4 digits"),
        ("digits=%D9%A1%D9%A2%D9%A3", "digits", "Enter the last 3 or 4 digits"),  # Arabic-Indic
        ("since=2026-07-02T10:00&until=2026-07-01T10:00", "until", "This must be after"),
    ],
)
def test_a_search_that_cannot_be_read_is_said_beside_its_field(
    supervisor: Person, query: str, field: str, message: str
) -> None:
    page = supervisor.get(f"/console/recordings?{query}")

    assert page.status_code == 422
    assert 'class="error-summary" role="alert"' in page.text
    assert f'<a href="#search-{field}">' in page.text
    error = re.search(rf'<p class="field-error" id="search-{field}-error">([^<]*)</p>', page.text)
    assert error is not None
    assert error.group(1).startswith(message)
    assert f'id="search-{field}"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert '<table id="recordings">' not in page.text


def test_the_page_states_how_long_recordings_are_kept_and_may_play_its_own_audio(
    supervisor: Person,
) -> None:
    response = supervisor.get("/console/recordings")
    page = response.text

    assert "media-src 'self'" in response.headers["content-security-policy"]

    assert "Recordings are kept for 1095 days, then deleted at Twilio" in page
    assert "Every playback is recorded in the" in page
    assert "No recordings yet." in page


def test_supervisors_have_a_link_to_recordings_and_handlers_are_refused(
    supervisor: Person, handler_person: Person
) -> None:
    wallboard = supervisor.get("/console/wallboard").text
    assert '<a href="/console/recordings">Recordings</a>' in wallboard

    refused = handler_person.get("/console/recordings?case_id=C-1")

    assert refused.status_code == 403
    assert "Your account does not give access to this page." in refused.text
    assert "/console/recordings" not in handler_person.get("/console/second-factor").text
