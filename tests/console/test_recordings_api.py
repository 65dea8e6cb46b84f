"""The API's recordings and feedback: recordings found by case, the caller's last digits, handler
and a London time window, callers only by their last digits and never a Twilio URL; a recording's
audio streamed from the simulated Twilio and audited; a day's Friends and Family Test figures;
a handler reading only their own; every new path in the OpenAPI document, as served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
import redis.asyncio
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing.clock import VirtualClock
from routing.feedback import Answer, FeedbackCounts, day_of
from routing.recordings import Recording, RecordingKind
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, make_settings
from tests.console.recording_line import (  # noqa: F401  # the fixtures
    RecordingLine,
    _recording_servers,
    add_recordings,
    kept,
    plays,
    recording_line,
)
from tests.console.test_api import Api, token_for
from tests.staff import Staff

WAV = "audio/x-wav"


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def recording(sid: str, started: str, **about: object) -> Recording:
    values: dict[str, object] = {
        "sid": "RE" + sid * 32,
        "call_sid": "CA" + sid * 32,
        "kind": RecordingKind.CALL,
        "case_id": "C-1",
        "handler": "h1",
        "digits": "123",
        "queue": "general",
        "started": at(started),
        "duration": 65,
    }
    return Recording.model_validate(values | about)


# In summer: London is an hour ahead of UTC.
A = recording("a", "2026-07-01T13:00:00+00:00")  # 14:00 in London
B = recording(
    "b", "2026-07-01T15:00:00+00:00", case_id="C-2", handler="h2", digits="456", kind="callback"
)
C = recording("c", "2026-07-02T09:00:00+00:00", handler="h2", kind="dispatch", status="absent")
D = recording("d", "2026-07-03T09:00:00+00:00", case_id="C-3", digits="", status="failed")


@pytest.fixture
def settings(redis_url: str, recording_line: RecordingLine) -> Settings:  # noqa: F811
    return make_settings(redis_url, twilio_api_base_url=recording_line.base_url)


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def supervisor(client: TestClient, redis_url: str) -> Api:
    return Api(client, token_for(redis_url, Role.SUPERVISOR))


@pytest.fixture
def handler(client: TestClient, redis_url: str) -> Api:
    return Api(client, token_for(redis_url, Role.HANDLER, "h1"))


def found(api: Api, query: str) -> list[str]:
    return [item["sid"][2] for item in api.get(f"/api/v1/recordings{query}")]


def test_recordings_are_found_by_case_digits_handler_and_a_london_time_window(
    supervisor: Api, redis_url: str
) -> None:
    add_recordings(redis_url, A, B, C, D)

    assert found(supervisor, "") == ["d", "c", "b", "a"]  # newest first
    assert found(supervisor, "?case_id=C-1") == ["c", "a"]
    assert found(supervisor, "?digits=123") == ["c", "a"]
    assert found(supervisor, "?digits=9123") == ["c", "a"]  # the last 3 are what is kept
    assert found(supervisor, "?handler=h2") == ["c", "b"]
    assert found(supervisor, "?case_id=C-1&handler=h2") == ["c"]
    # 13:30 to 14:30 London is 12:30 to 13:30 UTC: A, started at 13:00 UTC.
    assert found(supervisor, "?since=2026-07-01T13:30&until=2026-07-01T14:30") == ["a"]
    assert found(supervisor, "?since=2026-07-01T15:30%2B01:00") == ["d", "c", "b"]
    assert found(supervisor, "?until=2026-07-01T16:00:00Z&handler=h2") == ["b"]
    assert found(supervisor, "?case_id=C-404") == []


def test_a_recording_is_listed_with_the_caller_masked_and_no_twilio_url(
    supervisor: Api, redis_url: str
) -> None:
    add_recordings(redis_url, A, C, D)

    listed = {item["sid"]: item for item in supervisor.get("/api/v1/recordings")}

    assert listed[A.sid] == {
        "sid": A.sid,
        "call_sid": A.call_sid,
        "kind": "call",
        "case_id": "C-1",
        "handler": "h1",
        "queue": "general",
        "caller": "…123",
        "started": A.started,
        "started_at": "2026-07-01T14:00:00+01:00",
        "duration": 65,
        "channels": 2,
        "status": "completed",
        "error_code": "",
        "audio": f"/api/v1/recordings/{A.sid}/audio",
    }
    assert (listed[C.sid]["status"], listed[C.sid]["audio"]) == ("absent", None)
    assert listed[D.sid]["caller"] == ""  # withheld
    text = json.dumps(listed)
    for never in (ACCOUNT_SID, "2010-04-01", "twilio.com", "+447700900"):
        assert never not in text


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("since=yesterday", "since: Enter a date and time such as 2026-01-31T14:30"),
        ("until=2026-02-30T10:00", "until: Enter a date and time"),
        ("digits=12", "digits: Enter the last 3 or 4 digits"),
        ("digits=12345", "digits: Enter the last 3 or 4 digits"),
        ("digits=1a3", "digits: Enter the last 3 or 4 digits"),
        ("since=2026-07-02T10:00&until=2026-07-01T10:00", "until: This must be after the start"),
        ("case_id=" + "x" * 65, "case_id: Use at most 64 characters."),
    ],
)
def test_a_search_that_cannot_be_read_is_a_400_saying_what_is_wrong(
    supervisor: Api, query: str, problem: str
) -> None:
    response = supervisor.client.get(f"/api/v1/recordings?{query}", headers=supervisor.headers)

    assert response.status_code == 400
    assert response.json()["error"] == "the search cannot be read"
    [said] = response.json()["problems"]
    assert said.startswith(problem)


def test_a_handler_is_refused_the_recordings_and_their_audio(
    handler: Api,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made, handler="h1")

    for path in ("/api/v1/recordings", f"/api/v1/recordings/{made.sid}/audio"):
        response = handler.client.get(path, headers=handler.headers)
        assert response.status_code == 403, path
        assert response.json()["error"].startswith("handler may not")
    assert plays(redis_url) == []


def test_the_api_streams_the_audio_as_twilio_holds_it_and_audits_each_playback(
    supervisor: Api,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made, case_id="C-5", handler="h1")
    held = recording_line.media(made.sid).content
    path = f"/api/v1/recordings/{made.sid}/audio"

    whole = supervisor.client.get(path, headers=supervisor.headers)
    later = supervisor.client.get(path, headers={**supervisor.headers, "Range": "bytes=44-"})

    assert (whole.status_code, whole.content) == (200, held)
    assert whole.headers["content-type"] == WAV
    assert whole.headers["cache-control"] == "no-store"
    assert (later.status_code, later.content) == (206, held[44:])
    assert later.headers["content-range"] == f"bytes 44-{len(held) - 1}/{len(held)}"
    [entry] = plays(redis_url)
    assert (entry.actor, entry.target) == ("test supervisor", made.sid)
    assert (entry.detail["case_id"], entry.detail["handler"]) == ("C-5", "h1")
    assert entry.detail["token"]  # which token played it
    assert AUTH_TOKEN not in whole.headers.get("location", "")


def test_the_api_says_when_a_recording_is_no_longer_at_twilio(
    supervisor: Api,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    made = recording_line.record()
    kept(redis_url, made)
    recording_line.delete(made.sid)

    gone = supervisor.client.get(f"/api/v1/recordings/{made.sid}/audio", headers=supervisor.headers)
    unknown = supervisor.client.get(f"/api/v1/recordings/{B.sid}/audio", headers=supervisor.headers)

    assert gone.status_code == 404
    assert gone.json() == {
        "error": f"Recording {made.sid} is no longer held at Twilio "
        "(deleted under the retention period?)."
    }
    assert unknown.status_code == 404
    assert unknown.json() == {"error": f"There is no recording {B.sid} here."}


def count(redis_url: str, now: float, *calls: tuple[str, str, Answer | None]) -> None:
    """Each call (queue, handler, its answer or None) asked the question, and answered."""

    async def go() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            counts = FeedbackCounts(client)
            for number, (queue, handler_id, answer) in enumerate(calls):
                call_sid = f"CA{number:032d}"
                await counts.asked(call_sid, queue, handler_id, day_of(now))
                if answer is not None:
                    await counts.answered(call_sid, answer, queue, handler_id, day_of(now))
        finally:
            await client.aclose()

    asyncio.run(go())


A_DAY = [
    ("general", "h1", Answer.VERY_GOOD),
    ("general", "h1", Answer.VERY_GOOD),
    ("general", "h1", Answer.GOOD),
    ("general", "h1", Answer.DONT_KNOW),
    ("dental", "h2", Answer.POOR),
    ("dental", "h2", Answer.NEITHER),
    ("dental", "h2", None),  # asked, never answered
]


def figures(asked: int, answered: int, positive: float | None, **answers: int) -> dict[str, object]:
    counted = {answer.value: answers.get(answer.value, 0) for answer in Answer}
    poor = counted["poor"] + counted["very_poor"]
    return {
        "asked": asked,
        **counted,
        "answered": answered,
        "positive_percent": positive,
        "negative_percent": round(100 * poor / answered, 1) if answered else None,
    }


def test_a_days_feedback_gives_the_line_each_queue_and_each_handler(
    supervisor: Api, redis_url: str
) -> None:
    count(redis_url, at("2026-07-01T12:00:00+00:00"), *A_DAY)

    day = supervisor.get("/api/v1/feedback?day=2026-07-01")

    general = figures(4, 4, 75.0, very_good=2, good=1, dont_know=1)
    dental = figures(3, 2, 0.0, poor=1, neither=1)
    assert day == {
        "day": "2026-07-01",
        "line": figures(7, 6, 50.0, very_good=2, good=1, dont_know=1, poor=1, neither=1),
        "queues": {"dental": dental, "general": general},
        "handlers": {"h1": general, "h2": dental},
    }
    assert day["line"]["negative_percent"] == 16.7
    other = supervisor.get("/api/v1/feedback?day=2026-06-30")
    assert other["line"] == figures(0, 0, None)
    assert other["queues"] == other["handlers"] == {}


def test_the_feedback_day_is_londons_today_unless_asked(
    supervisor: Api, redis_url: str, clock: VirtualClock
) -> None:
    clock.set(at("2026-07-01T23:30:00+00:00"))  # half past midnight on 2 July in London
    count(redis_url, clock.now(), ("general", "h1", Answer.GOOD))

    today = supervisor.get("/api/v1/feedback")

    assert today["day"] == "2026-07-02"
    assert today["line"]["answered"] == 1


@pytest.mark.parametrize("day", ["yesterday", "2026-13-01", "2026-7-1", "20260701", "2026-02-30"])
def test_a_feedback_day_that_is_not_a_date_is_a_400(supervisor: Api, day: str) -> None:
    for path in ("/api/v1/feedback", "/api/v1/handlers/h1/feedback"):
        response = supervisor.client.get(f"{path}?day={day}", headers=supervisor.headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"].startswith("day must be a date as YYYY-MM-DD")


def test_a_handler_reads_their_own_feedback_and_nobody_elses(
    handler: Api, supervisor: Api, redis_url: str, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", "h2")
    count(redis_url, clock.now(), *A_DAY)

    own = handler.get("/api/v1/handlers/h1/feedback")
    others = handler.client.get("/api/v1/handlers/h2/feedback", headers=handler.headers)
    everyone = handler.client.get("/api/v1/feedback", headers=handler.headers)

    assert own == {
        "handler": "h1",
        "day": "2026-01-01",
        "figures": figures(4, 4, 75.0, very_good=2, good=1, dont_know=1),
    }
    assert others.status_code == 403
    assert others.json()["error"] == "a handler may act only for themselves"
    assert everyone.status_code == 403
    assert supervisor.get("/api/v1/handlers/h2/feedback")["figures"]["answered"] == 2
    unknown = supervisor.client.get("/api/v1/handlers/h9/feedback", headers=supervisor.headers)
    assert unknown.status_code == 404


def test_the_openapi_document_describes_the_new_paths_as_they_answer(
    supervisor: Api,
    recording_line: RecordingLine,  # noqa: F811
    redis_url: str,
) -> None:
    spec = supervisor.client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]

    search = paths["/api/v1/recordings"]["get"]
    assert [p["name"] for p in search["parameters"]] == [
        "case_id",
        "digits",
        "handler",
        "since",
        "until",
    ]
    assert search["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/RecordingView"},
    }
    assert search["description"] == "Roles: admin, supervisor."
    listen = paths["/api/v1/recordings/{recording_sid}/audio"]["get"]
    assert listen["parameters"][0] == {
        "name": "recording_sid",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert {"name": "Range", "in": "header"}.items() <= listen["parameters"][1].items()
    for status in ("200", "206"):
        assert list(listen["responses"][status]["content"]) == [WAV]
    assert "content" not in listen["responses"]["416"]
    assert listen["responses"]["502"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    feedback = paths["/api/v1/feedback"]["get"]
    assert [p["name"] for p in feedback["parameters"]] == ["day"]
    assert feedback["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FeedbackDay"
    }
    own = paths["/api/v1/handlers/{handler_id}/feedback"]["get"]
    assert own["description"] == "Roles: admin, handler, supervisor."
    schemas = spec["components"]["schemas"]
    assert set(schemas["Figures"]["required"]) >= {"answered", "positive_percent"}
    assert "caller" in schemas["RecordingView"]["properties"]
    # What the document says the audio is, the endpoint serves.
    made = recording_line.record()
    kept(redis_url, made)
    served = supervisor.client.get(
        f"/api/v1/recordings/{made.sid}/audio", headers={**supervisor.headers, "Range": "bytes=0-"}
    )
    assert served.status_code == 206
    assert served.headers["content-type"] in listen["responses"]["206"]["content"]
