"""A number keyed in for a callback, kept from before the number policy, is checked when the
callback is placed: outside it (a premium number, say), no call is made; the callback is left
unreachable, saying why, for a person to decide, and the handler is free again."""

from __future__ import annotations

import logging

import pytest
import redis

from routing import keys
from tests.conftest import CALLER
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
