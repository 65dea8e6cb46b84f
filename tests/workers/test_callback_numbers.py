"""The numbers a callback rings, kept from before the number policy, are checked when it is placed.
A keyed-in number outside it (a premium number, say): no call; the callback is left unreachable,
saying why, for a person. A handler's phone outside it: no call; the handler goes offline, saying
why, and the callback goes back to its place."""

from __future__ import annotations

import logging

import pytest
import redis

from routing import keys
from tests.conftest import CALLER, MAIN_LINE
from tests.ivr.test_callback_calls import callback, patient_first
from tests.ivr.test_connecting import with_phone
from tests.twilio import TwilioClient
from tests.workers.test_callback_placing import Phone, Worker, phone, worker

__all__ = ["phone", "worker"]  # the fixtures: the phone network, and the placing job


def test_a_keyed_in_number_outside_the_policy_is_not_dialled_and_the_callback_says_why(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    sync_redis.hset(keys.callback(worker.callback_id), "number", "+449098790000")
    caplog.set_level(logging.INFO)
    assert len(list(sync_redis.scan_iter(keys.callback_to("*")))) == 1

    assert worker.run() == "number refused"

    assert phone.made() == []
    record = sync_redis.hgetall(keys.callback(worker.callback_id))
    assert record["status"] == "unreachable"
    assert "outside the number policy" in record["reason"]
    assert sync_redis.zscore(keys.CALLBACKS_UNREACHABLE, worker.callback_id) is not None
    assert sync_redis.hget(keys.handler("h1"), "state") == "available"
    assert not list(sync_redis.scan_iter(keys.callback_to("*")))  # its number is free again
    assert "+449098790000" not in caplog.text
    assert "…000" in caplog.text


def test_the_callers_own_number_is_called_back_whatever_it_is(
    worker: Worker, phone: Phone, sync_redis: redis.Redis
) -> None:
    assert sync_redis.hget(keys.callback(worker.callback_id), "number") == CALLER
    assert worker.run() == "placed"
    assert len(phone.made()) == 1


def queued_at(sync_redis: redis.Redis, callback_id: str) -> float | None:
    return sync_redis.zscore(keys.queue("general"), keys.callback_member(callback_id))


def test_a_handlers_phone_kept_from_before_the_policy_is_not_rung_and_the_callback_waits_again(
    worker: Worker, phone: Phone, sync_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Handler first: the handler's phone would ring first. It is not rung; the handler goes
    offline, saying why, as for a caller's connect; the callback goes back to its place."""
    with_phone(sync_redis, "h1", "+882345678901")
    score = float(callback(sync_redis, worker.callback_id)["score"])
    caplog.set_level(logging.INFO)

    assert worker.run() == "phone refused"

    assert phone.requests() == []
    assert phone.made() == []
    state = callback(sync_redis, worker.callback_id)
    assert (state["status"], state["attempts"], state["handler"]) == ("pending", "0", "")
    assert queued_at(sync_redis, worker.callback_id) == score
    assert len(list(sync_redis.scan_iter(keys.callback_to("*")))) == 1  # still the number's
    handler = sync_redis.hgetall(keys.handler("h1"))
    assert (handler["state"], handler["reason"]) == ("offline", "phone outside the number policy")
    assert worker.when() is None
    assert "+882345678901" not in caplog.text
    assert "…901" in caplog.text


def test_patient_first_a_handlers_phone_outside_the_policy_means_the_patient_is_not_rung(
    worker: Worker,
    phone: Phone,
    sync_redis: redis.Redis,
    twilio: TwilioClient,
    redis_url: str,
) -> None:
    """Rung, the patient would be put through to a phone that may not be dialled."""
    patient_first(twilio, redis_url)
    with_phone(sync_redis, "h1", "+449098790000")

    assert worker.run() == "phone refused"

    assert phone.made() == []
    assert callback(sync_redis, worker.callback_id)["status"] == "pending"
    assert sync_redis.hget(keys.handler("h1"), "state") == "offline"


def test_a_handlers_phone_within_the_policy_is_rung_first(
    worker: Worker, phone: Phone, sync_redis: redis.Redis
) -> None:
    with_phone(sync_redis, "h1", "+442920180000")
    assert worker.run() == "placed"
    [placed] = phone.made()
    assert (placed["to"], placed["from"]) == ("+442920180000", MAIN_LINE)
