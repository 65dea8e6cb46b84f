"""Recording and the feedback question through the simulated network, every process running: a
conversation recorded and kept with its case, the audio as Twilio holds it, a recording that
fails leaving the call connected, the retention period deleting at Twilio (once, whatever
Twilio answers), and a caller answering the feedback question."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import redis
import redis.asyncio

from routing import keys
from routing.clock import VirtualClock
from routing.feedback import day_of
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, DISPATCH, make_settings
from tests.e2e.stack import Stack
from workers.recordings import SETTLING_SECONDS, delete_expired_in, find_untold_in
from workers.runtime import Runtime

TALK_SECONDS = 20
THANKS = (
    "Thank you for your answer. If you feel worse, call 111 again, or 999 in an emergency. Goodbye."
)
T = TypeVar("T")


def kept(stack: Stack) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        sids = client.zrange(keys.RECORDINGS, 0, -1)
        return [json.loads(str(client.get(keys.recording(str(sid))))) for sid in sids]
    finally:
        client.close()


def media(stack: Stack, sid: str) -> httpx.Response:
    url = f"{stack.phone_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav"
    return httpx.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)


def case_of(stack: Stack, call_sid: str) -> str:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        return str(client.hget(keys.call(call_sid), "case_id"))
    finally:
        client.close()


def talked_to_h1(stack: Stack, *inputs: str) -> str:
    stack.handler("h1")
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=TALK_SECONDS)
    sid = stack.sim.call(["2", "1", *inputs])
    stack.sim.wait_ended(sid)
    return sid


def test_a_conversation_with_a_handler_is_recorded_and_kept_with_its_case(stack: Stack) -> None:
    sid = talked_to_h1(stack)
    stack.wait_for(lambda: bool(kept(stack)), "the recording to be kept")

    [recording] = kept(stack)
    assert recording["call_sid"] == sid
    assert (recording["kind"], recording["handler"], recording["queue"]) == (
        "call",
        "h1",
        "general",
    )
    assert (recording["case_id"], recording["digits"]) == (case_of(stack, sid), CALLER[-3:])
    assert recording["status"] == "completed"
    # The talk only: the whisper to the handler is before the bridge (simulated seconds).
    assert TALK_SECONDS - 2 <= recording["duration"] <= TALK_SECONDS + 3
    audio = media(stack, recording["sid"])
    assert audio.status_code == 200
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnchannels() == 2  # the caller and the handler, each on their own
    [event, *_] = stack.sim.events(sid, "recording")
    assert event["recording_sid"] == recording["sid"]


def test_an_emergency_put_through_to_the_dispatch_line_is_recorded(stack: Stack) -> None:
    stack.sim.party(DISPATCH, answer="answer", ring_seconds=1, talk_seconds=5)
    sid = stack.sim.call(["1"])
    stack.sim.wait_ended(sid)
    stack.wait_for(lambda: bool(kept(stack)), "the recording to be kept")
    [recording] = kept(stack)
    assert (recording["kind"], recording["call_sid"]) == ("dispatch", sid)
    assert recording["case_id"] == case_of(stack, sid)


def test_a_recording_that_fails_leaves_the_call_connected_and_is_kept_as_failed(
    stack: Stack,
) -> None:
    stack.sim.faults(recordings={"count": 1})
    sid = talked_to_h1(stack)

    assert stack.sim.events(sid, "bridged")  # recording never stands between them
    assert not stack.sim.events(sid, "error")
    stack.wait_for(lambda: bool(kept(stack)), "the failed recording to be told")
    [recording] = kept(stack)
    assert (recording["status"], recording["error_code"]) == ("absent", "16102")


def in_a_job(stack: Stack, later: float, job: Callable[[Runtime], Awaitable[T]]) -> T:
    """`job` run as a worker runs it, against the stack, its clock `later` seconds on."""
    settings = make_settings(
        stack.redis_url, twilio_api_base_url=stack.phone_url, recording_retention_days=1
    )

    async def run() -> T:
        client = redis.asyncio.Redis.from_url(stack.redis_url, decode_responses=True)
        try:
            clock = VirtualClock(time.time() + later)
            return await job(Runtime(settings=settings, redis=client, clock=clock))
        finally:
            await client.aclose()

    return asyncio.run(run())


def retention_run(stack: Stack, days_later: float) -> dict[str, int]:
    return in_a_job(stack, days_later * 86_400, delete_expired_in)


def audited(stack: Stack, action: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = stack.api.get("/api/v1/audit", params={"action": action}).json()
    return entries


def test_past_the_retention_period_a_recording_is_deleted_at_twilio_once_and_audited(
    stack: Stack,
) -> None:
    sid = talked_to_h1(stack)
    stack.wait_for(lambda: bool(kept(stack)), "the recording to be kept")
    [recording] = kept(stack)

    assert retention_run(stack, days_later=0.5) == {"deleted": 0, "kept": 0}  # within the period
    assert media(stack, recording["sid"]).status_code == 200

    # Twilio deletes it but its answer is lost: Lifeline keeps the recording for the next run...
    stack.sim.faults(rest={"status": 500, "count": 1, "method": "DELETE", "carried_out": True})
    assert retention_run(stack, days_later=2) == {"deleted": 0, "kept": 1}
    assert media(stack, recording["sid"]).status_code == 404
    assert [item["sid"] for item in kept(stack)] == [recording["sid"]]
    # ... which finds it gone, and forgets it, with the audit trail kept.
    assert retention_run(stack, days_later=2) == {"deleted": 1, "kept": 0}
    assert kept(stack) == []
    [entry] = audited(stack, "recordings.deleted")
    [gone] = entry["detail"]["recordings"]
    assert (gone["sid"], gone["case_id"]) == (recording["sid"], case_of(stack, sid))
    assert entry["detail"]["retention_days"] == 1
    assert retention_run(stack, days_later=2) == {"deleted": 0, "kept": 0}


def test_a_recording_never_told_of_is_found_in_twilios_list_and_kept_with_its_case(
    stack: Stack,
) -> None:
    sid = talked_to_h1(stack)
    stack.wait_for(lambda: bool(kept(stack)), "the recording to be kept")
    [told] = kept(stack)
    # As if its status callback had come while Redis was away: Lifeline never knew of it.
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        client.delete(keys.recording(told["sid"]))
        client.zrem(keys.RECORDINGS, told["sid"])
    finally:
        client.close()

    assert in_a_job(stack, 0, find_untold_in) == 0  # it may yet be told of: left for now
    assert in_a_job(stack, SETTLING_SECONDS + 60, find_untold_in) == 1
    [found] = kept(stack)
    assert {key: found[key] for key in ("sid", "call_sid", "case_id", "digits", "handler")} == {
        "sid": told["sid"],
        "call_sid": sid,
        "case_id": case_of(stack, sid),
        "digits": CALLER[-3:],
        "handler": "h1",
    }
    assert in_a_job(stack, SETTLING_SECONDS + 60, find_untold_in) == 0  # found once
    assert retention_run(stack, days_later=2) == {"deleted": 1, "kept": 0}  # and deleted in time


def test_a_recording_of_a_call_lifeline_does_not_know_is_left_alone(stack: Stack) -> None:
    sid = talked_to_h1(stack)
    stack.wait_for(lambda: bool(kept(stack)), "the recording to be kept")
    [told] = kept(stack)
    # Another application's call on the same account, as far as Lifeline can tell.
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        client.delete(keys.recording(told["sid"]), keys.call(sid))
        client.zrem(keys.RECORDINGS, told["sid"])
    finally:
        client.close()

    assert in_a_job(stack, SETTLING_SECONDS + 60, find_untold_in) == 0
    assert kept(stack) == []
    assert media(stack, told["sid"]).status_code == 200  # nor deleted at Twilio


def asking_everyone(stack: Stack) -> None:
    rules = stack.api.get("/api/v1/rules").json()["rules"]
    rules["feedback"] = {"share": 1}
    version = stack.api.post("/api/v1/rules/versions", json={"rules": rules})
    assert version.status_code == 201, version.text
    activated = stack.api.post(
        f"/api/v1/rules/versions/{version.json()['number']}/activate", json={"reason": "FFT"}
    )
    assert activated.status_code == 200, activated.text


def test_a_caller_answers_the_feedback_question_when_their_handler_ends_the_call(
    stack: Stack,
) -> None:
    asking_everyone(stack)
    sid = talked_to_h1(stack, "1")  # the third key: "very good"

    said = [event["text"] for event in stack.sim.events(sid, "say")]
    assert any(text.startswith("Before you go: overall, how was") for text in said)
    assert said[-1] == THANKS
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        counted = client.hgetall(keys.feedback_day(day_of(time.time())))
    finally:
        client.close()
    assert counted == {
        "asked|all": "1",
        "asked|queue:general": "1",
        "asked|handler:h1": "1",
        "very_good|all": "1",
        "very_good|queue:general": "1",
        "very_good|handler:h1": "1",
    }
