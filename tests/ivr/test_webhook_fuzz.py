"""The webhooks as properties: any signed request (odd parameters, impossible states, unknown
calls) gets 200 and well-formed TwiML that keeps a caller going; a queued call's events, in any
order, leave it in one queue at most and count its ending once."""

from __future__ import annotations

from collections import Counter
from typing import cast
from urllib.parse import urlencode

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr import urls
from routing import keys
from routing.calls import OUTCOMES
from routing.clock import VirtualClock
from routing.decisions import Step
from routing.rules import default_rules
from tests.conftest import CALLER, MAIN_LINE, WELSH_LINE
from tests.twilio import TwilioClient, Twiml, new_sid

PATHS = [
    urls.VOICE,
    urls.CONTINUE,
    *(urls.STEP.format(step=step.value) for step in Step),
    urls.STEP.format(step="no-such-step"),
    urls.HOLD,
    urls.QUEUE_EXIT,
    urls.DISPATCH_RESULT,
    urls.DISPATCH_WHISPER,
    urls.CONNECT,
    urls.WHISPER,
    urls.CONNECT_RESULT,
    urls.STATUS,
    urls.CALLBACK_ANSWER,
    urls.CALLBACK_GREET,
    urls.CALLBACK_WHISPER,
    urls.CALLBACK_RESULT,
    urls.CALLBACK_STATUS,
    urls.FALLBACK,
    urls.RETRY,
    urls.FALLBACK_LINE_RESULT,
]
# Requests about a call in progress, each a call we have never seen (every example has a new
# CallSid): the answer must keep the caller going. Not the hold loop and the callback offer made
# in it: they run as the queue's wait URL, where an empty answer starts the next turn of the wait.
WAIT_CONTEXT = {urls.HOLD, urls.STEP.format(step=Step.CALLBACK_OFFER.value)}
CALLER_FACING = {urls.VOICE, urls.CONTINUE, urls.FALLBACK, urls.RETRY} | {
    urls.STEP.format(step=step.value) for step in Step
} - WAIT_CONTEXT
ENDS_OR_MOVES_ON = {"Gather", "Redirect", "Enqueue", "Dial", "Leave"}

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
status = st.sampled_from(
    ["queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"]
)
sids = st.one_of(st.builds(new_sid), st.just(""), text)
# What our own URLs carry, with values both real and absurd.
query = st.dictionaries(
    st.sampled_from(
        [
            "locale",
            "screen",
            "reason",
            "worse",
            "repeat",
            "has_callback",
            "callback_choice",
            "attempt",
            "turn",
            "down_since",
            "priority",
            "step",
            "handler",
            "offer",
            "call",
            "purpose",
            "case",
            "cb",
            "leg",
            "anything",
        ]
    ),
    st.one_of(
        st.sampled_from(["en-GB", "cy-GB", "yes", "no", "1", "5", "-1", "99", "worse", "overflow"]),
        text,
    ),
    max_size=5,
)
form = st.fixed_dictionaries(
    {"CallSid": sids, "From": st.sampled_from([CALLER, "anonymous", "", "+4477"]) | text},
    optional={
        "To": st.sampled_from([MAIN_LINE, WELSH_LINE, ""]),
        "CallStatus": status,
        "Digits": st.one_of(st.sampled_from(["1", "2", "5", "9", "*", "#", "12"]), text),
        "SpeechResult": text,
        "QueueTime": st.one_of(st.integers(-5, 10_000).map(str), text),
        "QueueResult": st.sampled_from(["leave", "hangup", "redirected", "error"]) | text,
        "DialCallStatus": status | text,
        "DialBridged": st.sampled_from(["true", "false"]),
        "AnsweredBy": st.sampled_from(["human", "machine_start", "fax", "unknown"]) | text,
        "SequenceNumber": st.one_of(st.integers(-1, 50).map(str), text),
        "CallDuration": st.one_of(st.integers(0, 5000).map(str), text),
        "ErrorCode": st.sampled_from(["11200", "12100"]),
        "ErrorUrl": st.sampled_from(["https://lifeline.example.org/twilio/voice?locale=cy-GB"])
        | text,
    },
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), state=query, params=form)
def test_any_signed_request_gets_well_formed_twiml_that_keeps_a_caller_going(
    twilio: TwilioClient, path: str, state: dict[str, str], params: dict[str, str]
) -> None:
    url = f"{path}?{urlencode(state)}" if state else path
    response = twilio.post(url, params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    twiml = Twiml(response.text)  # refuses verbs where Twilio refuses them
    if path in CALLER_FACING and params.get("CallStatus") not in {"completed", "canceled"}:
        assert ENDS_OR_MOVES_ON & set(twiml.verbs), (url, params, response.text)
    if path in WAIT_CONTEXT:
        assert "Hangup" not in twiml.verbs, (url, params, response.text)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(PATHS),
    state=query,
    params=form,
    pressed=st.lists(st.sampled_from(["1", "2", "3", "5", ""]), max_size=3),
)
def test_any_signed_request_about_a_call_in_progress_gets_well_formed_twiml(
    twilio: TwilioClient,
    path: str,
    state: dict[str, str],
    params: dict[str, str],
    pressed: list[str],
) -> None:
    """The same, for a call that is under way: answered some questions, perhaps queued."""
    call = twilio.call(CALLER, MAIN_LINE)
    twiml = call.start()
    for digits in pressed:
        gather = twiml.root.find(".//Gather")
        if gather is None:
            break
        twiml = call.press(twiml, digits) if digits else call.silence(twiml)
    url = f"{path}?{urlencode(state)}" if state else path
    response = twilio.post(url, params | {"CallSid": call.sid})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    Twiml(response.text)


def test_a_character_xml_cannot_carry_is_left_out_of_what_is_said(twilio: TwilioClient) -> None:
    """Found by the property above: a control character in a value made the answer unreadable."""
    query = urlencode({"case": "R2\x1fD2"})
    response = twilio.post(
        f"{urls.DISPATCH_WHISPER}?{query}", {"CallSid": new_sid(), "From": CALLER}
    )
    assert response.status_code == 200
    assert "Case R 2  D 2." in Twiml(response.text).text  # the character gone, the rest said


QUEUES = tuple(default_rules().queues)
events = st.one_of(
    st.tuples(st.just("hold"), st.integers(0, 4000)),
    st.tuples(
        st.just("exit"),
        st.sampled_from(["leave", "hangup", "redirected", "queue-full", "error", "bridged"]),
    ),
    st.tuples(st.just("status"), status),
    st.tuples(st.just("wait"), st.integers(1, 600)),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pressed=st.sampled_from([("2", "1"), ("2", "2"), ("1",)]), happened=st.lists(events))
def test_a_queued_call_in_any_order_of_events_is_in_one_queue_at_most_and_counted_once(
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    clock: VirtualClock,
    pressed: tuple[str, ...],
    happened: list[tuple[str, object]],
) -> None:
    """Twilio's events come repeated, late and out of order: whatever their order, the call is in
    at most one of our queues, none once it has ended, and its ending is counted once."""
    before = outcomes(sync_redis)
    call = twilio.call(CALLER, MAIN_LINE)
    enqueue = call.start()
    for key in pressed:
        enqueue = call.press(enqueue, key)
    ended = False
    for kind, value in happened:
        if kind == "hold":
            call.twilio.twiml(urls.HOLD, call.params(QueueTime=str(value)))
        elif kind == "exit":
            action = enqueue.first("Enqueue").get("action", "") if enqueue.has("Enqueue") else ""
            call.twilio.twiml(action or urls.QUEUE_EXIT, call.params(QueueResult=str(value)))
        elif kind == "status":
            assert call.status(str(value)).status_code == 200
            ended = ended or value in {"completed", "busy", "failed", "no-answer", "canceled"}
        else:
            clock.advance(int(str(value)))
        places = [
            name for name in QUEUES if sync_redis.zscore(keys.queue(name), call.sid) is not None
        ]
        assert len(places) <= 1, (happened, places)
        if ended:
            assert places == [], happened
    counted = outcomes(sync_redis) - before
    assert counted["received"] == 1, (happened, counted)
    assert max(counted["queued"], counted["dispatched"], counted["diverted"]) <= 1, counted
    assert counted["completed"] + counted["abandoned"] + counted["ivr_hangup"] <= 1, counted


def outcomes(sync_redis: redis.Redis) -> Counter[str]:
    counts = cast(dict[str, str], sync_redis.hgetall(OUTCOMES))
    return Counter({name: int(value) for name, value in counts.items()})
