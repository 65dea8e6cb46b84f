"""What-if through the API: asked for (202), run by a real worker on the simulations queue
(a pool that serves no caller), read back with its comparison. A version whose rules are the
active one's meets the same callers and gives the very same figures: the comparison compares
like with like."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing.clock import VirtualClock
from routing.rulebook import canonical
from routing.rules import default_rules
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DISPATCH, PUBLIC_BASE_URL
from tests.console.test_api import Api, token_for
from tests.e2e.stack import BIN
from tests.simulation.test_recorded_day import CALLERS, DAY, place_the_day
from tests.twilio import TwilioClient


@pytest.fixture
def client(settings: Settings, clock: VirtualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def supervisor(client: TestClient, redis_url: str) -> Api:
    return Api(client, token_for(redis_url, Role.SUPERVISOR))


SMALL = {"day": "2026-01-03", "factor": 0.5, "hours": 2, "seed": 4}


def work_off_simulations(redis_url: str, tmp_path: Path) -> None:
    """A worker of the simulations pool, until its queue is empty."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
        "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
    }
    done = subprocess.run(
        [str(BIN / "lifeline"), "worker", "--queues", "simulations", "--burst"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_version_like_the_active_one_gives_the_same_figures(
    supervisor: Api, redis_url: str, tmp_path: Path
) -> None:
    made = supervisor.send(
        "POST", "/api/v1/rules/versions", {"document": canonical(default_rules())}, 201
    )
    asked = supervisor.send("POST", f"/api/v1/rules/versions/{made['number']}/simulate", SMALL, 202)
    assert asked["status"] == "queued"
    assert asked["request"]["factor"] == 0.5
    work_off_simulations(redis_url, tmp_path)
    run = supervisor.get(f"/api/v1/simulations/{asked['id']}")
    assert run["status"] == "done", run
    assert run["progress"] == 1
    comparison = run["comparison"]
    assert comparison["version"] == made["number"]
    rows = {row["name"]: row for row in comparison["rows"]}
    assert rows["Calls offered"]["draft"] > 20
    for row in comparison["rows"]:
        assert row["draft"] == row["active"], row
        assert not row["worse"]
    assert comparison["misses"] == []
    assert [r["id"] for r in supervisor.get("/api/v1/simulations")] == [asked["id"]]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"factor": 0}, "factor"),
        ({"hours": 25}, "hours"),
        ({"profile": "somewhere"}, "profile"),
        ({"day": "yesterday"}, "day"),
        ({"day": "9999-12-31"}, "day"),
        ({"what": 1}, "what"),
        ({"calls": "elsewhere"}, "calls"),
        ({"calls": "recorded", "factor": 2}, "replayed as it was"),
    ],
)
def test_a_bad_request_is_refused_with_what_is_wrong_and_nothing_queued(
    supervisor: Api, body: dict[str, object], problem: str
) -> None:
    response = supervisor.client.post(
        "/api/v1/rules/versions/1/simulate", json=body, headers=supervisor.headers
    )
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert supervisor.get("/api/v1/simulations") == []


def test_an_unknown_version_or_run_is_a_404_and_handlers_may_not_ask(
    supervisor: Api, client: TestClient, redis_url: str
) -> None:
    response = supervisor.client.post(
        "/api/v1/rules/versions/99/simulate", json={}, headers=supervisor.headers
    )
    assert response.status_code == 404
    response = supervisor.client.get("/api/v1/simulations/nope", headers=supervisor.headers)
    assert response.status_code == 404
    handler = Api(client, token_for(redis_url, Role.HANDLER, handler="h1"))
    response = client.post("/api/v1/rules/versions/1/simulate", json={}, headers=handler.headers)
    assert response.status_code == 403


def test_a_recorded_day_is_tried_with_its_own_callers_and_a_day_with_none_fails_saying_so(
    supervisor: Api, redis_url: str, tmp_path: Path, twilio: TwilioClient, clock: VirtualClock
) -> None:
    place_the_day(twilio, clock)  # five calls through the real webhooks, recorded as they queue
    made = supervisor.send(
        "POST", "/api/v1/rules/versions", {"document": canonical(default_rules())}, 201
    )
    path = f"/api/v1/rules/versions/{made['number']}/simulate"
    day = {"calls": "recorded", "day": DAY.isoformat(), "hours": 12, "seed": 4}
    replayed = supervisor.send("POST", path, day, 202)
    empty = supervisor.send("POST", path, day | {"day": "2026-01-06"}, 202)
    work_off_simulations(redis_url, tmp_path)

    run = supervisor.get(f"/api/v1/simulations/{replayed['id']}")
    assert run["status"] == "done", run
    rows = {row["name"]: row for row in run["comparison"]["rows"]}
    # Exactly the recorded callers, under both versions, each reaching a queue.
    assert rows["Calls to the line"]["draft"] == rows["Calls to the line"]["active"] == len(CALLERS)
    assert rows["Calls offered"]["draft"] == len(CALLERS)
    failed = supervisor.get(f"/api/v1/simulations/{empty['id']}")
    assert failed["status"] == "failed"
    assert "no calls recorded on 2026-01-06" in failed["error"]
