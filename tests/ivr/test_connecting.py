"""From queue to handler: reservation, the connect TwiML, the whisper, and every outcome."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import redis
import redis.asyncio

from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.rules import default_rules
from routing.sweeps import SweepReport, sweep_floor
from tests.conftest import CALLER, MAIN_LINE
from tests.ivr.test_call_flow import to_queue
from tests.staff import Staff
from tests.twilio import Call, TwilioClient, Twiml
from workers.job_queues import queue_of


def connect_jobs(redis_url: str) -> list[tuple[object, ...]]:
    connection = redis.Redis.from_url(redis_url)
    try:
        jobs = queue_of("calls", connection).get_jobs()
        return [tuple(job.args) for job in jobs]
    finally:
        connection.close()


def redirected(twilio: TwilioClient, call: Call, handler: str, offer: int = 1) -> Twiml:
    """What the connect job makes Twilio do: fetch the connect TwiML for the caller's leg."""
    return call._got(
        twilio.twiml(f"/twilio/connect?handler={handler}&offer={offer}", call.params())
    )


def handler_answers(twilio: TwilioClient, call: Call, connect: Twiml) -> Twiml:
    url = connect.first("Client").get("url", "")
    leg = {"CallSid": "CA" + "f" * 32, "ParentCallSid": call.sid, "To": "client:h1"}
    return twilio.twiml(url, call.params() | leg)


def dial_ends(
    twilio: TwilioClient, call: Call, connect: Twiml, status: str, bridged: bool = True
) -> Twiml:
    action = connect.first("Dial").get("action", "")
    extra = {} if bridged else {"DialBridged": "false"}
    return call._got(twilio.twiml(action, call.params(DialCallStatus=status, **extra)))


def state_of(sync_redis: redis.Redis, handler: str) -> str:
    return str(sync_redis.hget(keys.handler(handler), "state"))


def test_a_queued_call_is_reserved_for_a_free_handler_and_a_connect_job_enqueued(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, redis_url: str
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")

    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    assert state_of(sync_redis, "h1") == "reserved"
    assert connect_jobs(redis_url) == [(call.sid, "h1", 1)]


def test_the_handler_answers_hears_the_whisper_and_the_call_is_connected(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE, skills={"mental_health": 3})
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "2")

    connect = redirected(twilio, call, "h1")
    assert "putting you through to a call handler" in connect.text
    dial = connect.first("Dial")
    assert (dial.get("timeout"), dial.get("answerOnBridge")) == ("20", "true")
    assert connect.first("Client").text == "h1"

    whisper = handler_answers(twilio, call, connect)
    assert whisper.said == ["Lifeline call, priority 3.", "Reason: mental health."]
    assert not whisper.has("Hangup")
    assert sync_redis.hget(keys.call(call.sid), "status") == "connected"
    assert state_of(sync_redis, "h1") == "busy"

    done = dial_ends(twilio, call, connect, "completed")
    assert done.verbs == []
    assert sync_redis.hget(keys.call(call.sid), "status") == "completed"
    assert state_of(sync_redis, "h1") == "wrap_up"


def test_an_unanswered_offer_puts_the_caller_back_in_their_place_and_rests_the_handler(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff, clock: VirtualClock
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    first = twilio.call("+447700900001", MAIN_LINE)
    to_queue(first, "2", "1")
    taken_at = sync_redis.hget(keys.call(first.sid), "score")  # its place when it was taken
    clock.advance(10)
    second = twilio.call(CALLER, MAIN_LINE)  # the same class, 10 s later
    to_queue(second, "2", "1")

    connect = redirected(twilio, first, "h1")
    clock.advance(20)  # it rings out: the back of the class is now behind `second`
    back = dial_ends(twilio, first, connect, "no-answer")

    assert back.first("Enqueue").text == "general"
    assert "You keep your place in the queue." in back.text
    assert taken_at is not None
    assert sync_redis.zscore(keys.queue("general"), first.sid) == float(taken_at)
    assert sync_redis.zrange(keys.queue("general"), 0, -1) == [first.sid, second.sid]
    handler = sync_redis.hgetall(keys.handler("h1"))
    assert (handler["state"], handler["reason"], handler["missed"]) == ("break", "missed", "1")
    assert float(handler["break_until"]) == clock.now() + 60


def sweep(redis_url: str, now: float) -> SweepReport:
    async def go() -> SweepReport:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await sweep_floor(client, default_rules(), now)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_after_two_missed_offers_in_a_row_the_handler_stays_on_break(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    dial_ends(twilio, call, redirected(twilio, call, "h1", 1), "busy")

    clock.advance(60)
    [offer] = sweep(redis_url, clock.now()).offers  # the break is over: offered again
    assert (offer.member, offer.handler, offer.offer) == (call.sid, "h1", 2)

    dial_ends(twilio, call, redirected(twilio, call, "h1", 2), "no-answer")
    clock.advance(3600)
    assert sweep(redis_url, clock.now()).offers == []
    handler = sync_redis.hgetall(keys.handler("h1"))
    assert (handler["state"], handler["missed"], handler["break_until"]) == ("break", "2", "")


def test_a_handler_whose_console_goes_quiet_goes_offline_and_the_call_goes_back(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    sync_redis.zadd(keys.HEARTBEATS, {"h1": clock.now()})
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    score = float(sync_redis.hget(keys.call(call.sid), "score") or 0)

    clock.advance(31)
    report = sweep(redis_url, clock.now())

    assert report.handlers_gone == ["h1"]
    assert state_of(sync_redis, "h1") == "offline"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert sync_redis.zscore(keys.queue("general"), call.sid) == score


def test_an_offer_whose_outcome_never_came_back_is_released(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    clock: VirtualClock,
    redis_url: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    clock.advance(49)
    assert sweep(redis_url, clock.now()).offers_released == []
    clock.advance(2)
    report = sweep(redis_url, clock.now())
    assert report.offers_released == [call.sid]
    # Not the handler's doing: available again, and offered the call afresh.
    assert [offer.offer for offer in report.offers] == [2]


def test_a_late_or_repeated_redirect_changes_nothing(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    connect = redirected(twilio, call, "h1")
    dial_ends(twilio, call, connect, "no-answer")

    stale = redirected(twilio, call, "h1", 1)
    assert stale.first("Enqueue").text == "general"
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"


def test_a_handler_answering_an_offer_that_is_over_is_told_and_hung_up_on(
    twilio: TwilioClient, sync_redis: redis.Redis, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    connect = redirected(twilio, call, "h1")
    call.status("completed")  # the caller gave up while it rang

    whisper = handler_answers(twilio, call, connect)
    assert whisper.verbs == ["Say", "Hangup"]
    assert sync_redis.hget(keys.call(call.sid), "status") == "abandoned"
    assert state_of(sync_redis, "h1") == "available"


def with_phone(sync_redis: redis.Redis, handler: str, number: str) -> None:
    """The handler's calls ring `number`, as a profile kept before the number policy: written
    straight into Redis, never checked."""
    profile = json.loads(str(sync_redis.hget(keys.handler(handler), "profile")))
    profile["device"] = {"kind": "number", "address": number}
    sync_redis.hset(keys.handler(handler), "profile", json.dumps(profile))


def test_a_handlers_phone_kept_from_before_the_number_policy_is_never_dialled(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    staff: Staff,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The caller stays in their place in the queue, told the handler is not free; the handler
    goes offline, with why, for a supervisor to put right; the number is logged by its end."""
    staff("h1", state=HandlerState.AVAILABLE)
    with_phone(sync_redis, "h1", "+882345678901")
    call = twilio.call(CALLER, MAIN_LINE)
    to_queue(call, "2", "1")
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"
    caplog.set_level(logging.INFO)

    answer = redirected(twilio, call, "h1", 1)

    assert not answer.has("Dial")
    assert answer.has("Enqueue")
    assert sync_redis.hget(keys.call(call.sid), "status") == "queued"
    assert sync_redis.zscore(keys.queue("general"), call.sid) is not None
    assert state_of(sync_redis, "h1") == "offline"
    assert sync_redis.hget(keys.handler("h1"), "reason") == "phone outside the number policy"
    assert "+882345678901" not in caplog.text
    assert "…901" in caplog.text
