"""GET /api/v1/stats: each queue and class, all queues together and the line's terminated calls,
over an exact window; every figure described in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing.clock import VirtualClock
from routing.figures import Measures
from tests.console.test_api import Api, token_for
from tests.routing.test_stats import a_quarter_hour


@pytest.fixture
def api(settings: Settings, clock: VirtualClock, redis_url: str) -> Iterator[Api]:
    with TestClient(create_app(settings, clock=clock)) as client:
        yield Api(client, token_for(redis_url, Role.SUPERVISOR))


def test_the_statistics_separate_terminated_abandoned_and_the_p1_time_to_reach(
    api: Api, redis_url: str, clock: VirtualClock
) -> None:
    now = clock.now()
    a_quarter_hour(redis_url, now)

    report = api.get("/api/v1/stats?window=15m")

    assert (report["window"], report["since"], report["until"]) == ("15m", now - 900, now)
    assert report["terminated"] == 1
    general, emergency = (
        next(row for row in report["figures"] if row["queue"] == name)
        for name in ("general", "emergency")
    )
    assert (general["offered"], general["abandoned"], general["abandoned_after_30s"]) == (2, 1, 1)
    assert general["abandoned_after_30s_rate"] == 0.5
    assert (emergency["answered"], emergency["dispatched"], emergency["p1_reached"]) == (1, 1, 2)
    assert emergency["p1_p95_time_to_reach"] == 35.0  # of 20 and 35 s: the 2nd by nearest rank
    total = report["total"]
    assert (total["offered"], total["answered"], total["service_level"]) == (4, 2, 1.0)
    assert total["p1_average_time_to_reach"] == 27.5


def test_every_statistic_is_described_in_the_openapi_document(api: Api) -> None:
    schemas = api.client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    figures = schemas["Measures"]["properties"]
    assert set(figures) == set(Measures.model_fields)
    assert all(figure.get("description") for figure in figures.values())
    assert "answered_within_60s / answered" in figures["service_level"]["description"]
    assert "abandoned_after_30s / offered" in figures["abandoned_after_30s_rate"]["description"]
    assert "terminated" in schemas["StatsReport"]["properties"]["terminated"]["description"]
    callbacks = schemas["CallbackFigures"]["properties"]
    assert all(callbacks[name].get("description") for name in callbacks if name != "priority")
