"""Callers are recognised by a keyed hash of their number (NUMBER_HASH_KEY): nobody holding
Redis's data can find a number again by hashing every UK number, and every process that shares
the key recognises the same callers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from starlette.testclient import TestClient

from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from tests.conftest import AUTH_TOKEN, CALLER, MAIN_LINE, PUBLIC_BASE_URL, make_settings
from tests.ivr.test_hold_and_callbacks import queued_medical, take_callback
from tests.twilio import TwilioClient

KEY_A = "number-hash-key-a-0123456789abcdef0123456789"
KEY_B = "number-hash-key-b-0123456789abcdef0123456789"
BOOKED = "We have a call back booked for you"


@contextmanager
def webhooks(redis_url: str, clock: VirtualClock, **settings: object) -> Iterator[TwilioClient]:
    """A webhook process of its own (its own stores and Redis clients) with these settings."""
    app = create_app(make_settings(redis_url, **settings), clock=clock)
    with TestClient(app) as client:
        yield TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)


def caller_digests(sync_redis: redis.Redis) -> list[str]:
    prefix = f"{keys.PREFIX}:caller:"
    return sorted(str(key).removeprefix(prefix) for key in sync_redis.scan_iter(prefix + "*"))


def book_callback(twilio: TwilioClient) -> None:
    call, enqueue = queued_medical(twilio)
    confirm = take_callback(call, enqueue)
    assert call.press(confirm, "1").verbs == ["Say", "Hangup"]


def test_a_callers_record_is_not_keyed_by_a_plain_sha256_of_their_number(
    redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    plain = hashlib.sha256(CALLER.encode()).hexdigest()[:32]
    digests = []
    for key in (KEY_A, KEY_B):
        sync_redis.flushall()
        with webhooks(redis_url, clock, number_hash_key=key) as twilio:
            queued_medical(twilio)
        [digest] = caller_digests(sync_redis)
        assert plain not in digest
        digests.append(digest)
    assert digests[0] != digests[1]  # without the key, the digest says nothing


def test_unset_the_key_is_derived_from_the_auth_token_never_a_public_default(
    redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    digests = []
    for token in (AUTH_TOKEN, "another-auth-token-0123456789"):
        sync_redis.flushall()
        settings = make_settings(redis_url, twilio_auth_token=token, number_hash_key="")
        app = create_app(settings, clock=clock)
        with TestClient(app) as client:
            queued_medical(TwilioClient(client, token, PUBLIC_BASE_URL))
        [digest] = caller_digests(sync_redis)
        digests.append(digest)
    assert hashlib.sha256(CALLER.encode()).hexdigest()[:32] not in digests
    assert digests[0] != digests[1]


def test_a_caller_is_recognised_by_every_process_that_shares_the_key(
    redis_url: str, clock: VirtualClock
) -> None:
    with webhooks(redis_url, clock, number_hash_key=KEY_A) as first:
        book_callback(first)
    clock.advance(60)
    with webhooks(redis_url, clock, number_hash_key=KEY_A) as second:
        again = second.call(CALLER, MAIN_LINE)
        assert BOOKED in again.press(again.start(), "2").text
    with webhooks(redis_url, clock, number_hash_key=KEY_B) as other:
        stranger = other.call(CALLER, MAIN_LINE)
        assert BOOKED not in stranger.press(stranger.start(), "2").text
