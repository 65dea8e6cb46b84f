"""Health, readiness and metrics endpoints."""

from __future__ import annotations

import pytest
import redis
from starlette.testclient import TestClient

from lifeline.app import create_app
from lifeline.redis_server import RedisServer
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from tests.conftest import CALLER, MAIN_LINE, METRICS, METRICS_TOKEN, make_settings
from tests.ivr.test_call_flow import to_queue
from tests.ivr.test_emergency_limit import waiting_for_wrap_ups
from tests.routing.test_stats import a_quarter_hour
from tests.staff import Staff
from tests.twilio import TwilioClient


def test_healthz_says_alive(twilio: TwilioClient) -> None:
    response = twilio.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_readyz_needs_redis(twilio: TwilioClient, redis_server: RedisServer) -> None:
    ready = twilio.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["mode"] == "normal"
    redis_server.kill()
    unready = twilio.client.get("/readyz")
    assert unready.status_code == 503
    assert unready.json() == {"status": "not ready", "redis": "unreachable"}  # not where it is


@pytest.mark.parametrize(
    "authorization",
    [None, b"Bearer wrong", b"Basic " + METRICS_TOKEN.encode(), "Bearer été".encode()],
)
def test_metrics_need_the_metrics_token(twilio: TwilioClient, authorization: bytes | None) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    refused = twilio.client.get("/metrics", headers=headers)
    assert refused.status_code == 401
    assert "METRICS_TOKEN" in refused.json()["error"]
    assert "lifeline_" not in refused.text


def test_with_no_metrics_token_set_nobody_reads_the_metrics(redis_url: str) -> None:
    settings = make_settings(redis_url, metrics_token="")
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
        assert client.get("/metrics", headers=METRICS).status_code == 401


def test_metrics_count_calls_by_outcome_and_waiting_calls_by_priority(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("dentist", skills={"dental": 3})  # busy, but on duty: the dental queue is staffed
    to_queue(twilio.call(CALLER, MAIN_LINE), "2", "1")
    to_queue(twilio.call("+447700900001", MAIN_LINE), "2", "3")
    abandoned = twilio.call("+447700900002", MAIN_LINE)
    to_queue(abandoned, "2", "1")
    abandoned.status("completed")
    clock.advance(12)

    text = twilio.client.get("/metrics", headers=METRICS).text

    assert 'lifeline_calls_total{outcome="queued"} 3.0' in text
    assert 'lifeline_calls_total{outcome="abandoned"} 1.0' in text
    assert 'lifeline_waiting_calls{priority="3",queue="general"} 1.0' in text
    assert 'lifeline_waiting_calls{priority="4",queue="dental"} 1.0' in text
    assert 'lifeline_waiting_longest_seconds{priority="3",queue="general"} 12.0' in text
    assert 'lifeline_handlers{state="busy"} 1.0' in text
    assert 'lifeline_webhook_seconds_count{path="/twilio/ivr/{step}"} 6.0' in text
    assert 'lifeline_queue_offered{priority="3",queue="general",window="1h"} 2.0' in text
    assert 'lifeline_queue_abandoned{priority="3",queue="general",window="today"} 1.0' in text
    assert "lifeline_mode_degraded 0.0" in text
    assert 'lifeline_journal_entries{state="pending"} 0.0' in text


def test_metrics_show_priority_1_callers_waiting_and_for_how_long(
    twilio: TwilioClient, staff: Staff, clock: VirtualClock, redis_url: str
) -> None:
    staff("h1", state=HandlerState.WRAP_UP)
    waiting_for_wrap_ups(twilio, redis_url)
    to_queue(twilio.call(CALLER, MAIN_LINE), "1")
    clock.advance(7)

    text = twilio.client.get("/metrics", headers=METRICS).text

    assert "lifeline_p1_waiting 1.0" in text
    assert "lifeline_p1_longest_wait_seconds 7.0" in text


def test_metrics_still_answer_with_redis_down(
    twilio: TwilioClient, redis_server: RedisServer
) -> None:
    twilio.call(CALLER, MAIN_LINE).start()
    redis_server.kill()
    response = twilio.client.get("/metrics", headers=METRICS)
    assert response.status_code == 200
    assert 'lifeline_webhook_seconds_count{path="/twilio/voice"} 1.0' in response.text


def test_metrics_give_the_figures_of_each_window_and_the_calls_terminated_in_the_ivr(
    twilio: TwilioClient, redis_url: str, clock: VirtualClock
) -> None:
    a_quarter_hour(redis_url, clock.now())

    text = twilio.client.get("/metrics", headers=METRICS).text

    general = 'priority="3",queue="general",window="15m"'
    emergency = 'priority="1",queue="emergency",window="15m"'
    assert f"lifeline_queue_abandoned_after_30s{{{general}}} 1.0" in text
    assert f"lifeline_queue_abandoned_after_30s_rate{{{general}}} 0.5" in text  # of 2 offered
    assert f"lifeline_queue_answer_p95_seconds{{{general}}} 10.0" in text
    assert f"lifeline_queue_dispatched{{{emergency}}} 1.0" in text
    assert f"lifeline_p1_reached{{{emergency}}} 2.0" in text  # answered, and dispatched
    assert f"lifeline_p1_p95_time_to_reach_seconds{{{emergency}}} 35.0" in text
    assert f"lifeline_p1_reached{{{general}}}" not in text  # priority 1's figure only
    assert 'lifeline_ivr_terminated{window="15m"} 1.0' in text
    assert 'lifeline_ivr_terminated{window="today"} 0.0' in text  # the clock is at midnight
