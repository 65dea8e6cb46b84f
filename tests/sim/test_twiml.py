"""The TwiML parser on its own: what parses to what, and which documents Twilio would refuse."""

from __future__ import annotations

import pytest

from sim.phone.errors import CallError
from sim.phone.twiml import parse_twiml
from sim.phone.verbs import (
    ConferenceRoom,
    Context,
    Dial,
    Document,
    Enqueue,
    Gather,
    Pause,
    Play,
    Say,
)

URL = "https://lifeline.example/twilio/voice"


def parse(body: str, context: Context = Context.MAIN) -> Document:
    return parse_twiml(body.encode(), URL, context)


def test_a_gather_with_prompts_parses_with_twilio_defaults() -> None:
    document = parse(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/menu">'
        '<Say voice="Polly.Amy" language="en-GB">Press <break time="1s"/> one.</Say>'
        '<Play loop="2">https://cdn.example/beep.mp3</Play><Pause/></Gather></Response>'
    )

    [gather] = document.verbs
    assert gather == Gather(
        inputs=frozenset({"dtmf"}),
        num_digits=None,
        timeout=5,
        finish_on_key="#",
        action="/menu",
        method="POST",
        action_on_empty_result=False,
        speech_timeout=None,
        language=None,
        hints=None,
        prompts=(
            Say(text="Press one.", voice="Polly.Amy", language="en-GB", loop=1),
            Play(url="https://cdn.example/beep.mp3", loop=2, digits=None),
            Pause(length=1),
        ),
    )


def test_dial_nouns_and_enqueue_parse() -> None:
    document = parse(
        '<Response><Dial action="done" timeout="20" callerId="+441134960000">'
        '<Client url="/whisper" statusCallback="/leg" statusCallbackEvent="answered completed">'
        '<Identity>handler-7</Identity><Parameter name="case" value="1"/></Client>'
        "<Number>+44 (0)1632-960999</Number></Dial>"
        '<Enqueue waitUrl="/hold" waitUrlMethod="GET">urgent</Enqueue></Response>'
    )

    dial, enqueue = document.verbs
    assert isinstance(dial, Dial)
    assert [target.address for target in dial.targets] == ["client:handler-7", "+4401632960999"]
    assert dial.targets[0].status_callback_events == frozenset({"answered", "completed"})
    assert (dial.timeout, dial.caller_id, dial.time_limit) == (20, "+441134960000", 14400)
    assert enqueue == Enqueue(
        name="urgent", action=None, method="POST", wait_url="/hold", wait_url_method="GET"
    )


def test_a_conference_parses_with_twilio_defaults_and_the_attributes_lifeline_uses() -> None:
    plain, transfer = parse(
        "<Response><Dial><Conference>room-1</Conference></Dial>"
        '<Dial action="/after"><Conference startConferenceOnEnter="false" '
        'endConferenceOnExit="true" beep="onEnter" waitUrl="" statusCallback="/conf" '
        'statusCallbackEvent="start end join leave" participantLabel="caller" '
        'maxParticipants="3">transfer-CA1</Conference></Dial></Response>'
    ).verbs

    assert isinstance(plain, Dial)
    assert isinstance(transfer, Dial)
    assert plain.targets == ()
    assert plain.conference == ConferenceRoom(
        name="room-1",
        muted=False,
        start_on_enter=True,
        end_on_exit=False,
        wait_url=None,
        status_callback=None,
        status_callback_method="POST",
        status_callback_events=frozenset(),
        label=None,
        record=None,
    )
    assert transfer.conference == ConferenceRoom(
        name="transfer-CA1",
        muted=False,
        start_on_enter=False,
        end_on_exit=True,
        wait_url="",
        status_callback="/conf",
        status_callback_method="POST",
        status_callback_events=frozenset({"start", "end", "join", "leave"}),
        label="caller",
        record=None,
    )
    assert transfer.action == "/after"


def test_relative_urls_resolve_against_the_document() -> None:
    document = parse("<Response/>")

    assert document.resolve("menu?step=2") == "https://lifeline.example/twilio/menu?step=2"
    assert document.resolve("/other") == "https://lifeline.example/other"
    assert document.resolve(None) == URL


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ("", 12100, "empty"),
        ("not xml at all", 12100, "parse"),
        ("<Response><Say>open</Response>", 12100, "parse"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><Response/>', 12100, "DTD"),
        ("<Reply/>", 12200, "<Reply>"),
        ("<Response><Speak>hi</Speak></Response>", 12200, "unknown verb <Speak>"),
        ("<Response><say>lower case</say></Response>", 12200, "<say>"),
        ("<Response><Record/></Response>", 12200, "does not execute"),
        ("<Response>stray text</Response>", 12200, "unexpected text"),
        ('<Response><Say colour="red">hi</Say></Response>', 12200, "'colour'"),
        ("<Response><Say></Say></Response>", 12200, "needs text"),
        ('<Response><Say voice="robot">hi</Say></Response>', 12200, "voice"),
        ('<Response><Gather numDigits="one"/></Response>', 12200, "numDigits"),
        ('<Response><Gather numDigits="0"/></Response>', 12200, "numDigits"),
        ('<Response><Gather timeout="-1"/></Response>', 12200, "timeout"),
        ('<Response><Gather input="keys"/></Response>', 12200, "input"),
        ('<Response><Gather finishOnKey="##"/></Response>', 12200, "finishOnKey"),
        ('<Response><Gather method="PUT"/></Response>', 12200, "method"),
        ('<Response><Gather actionOnEmptyResult="yes"/></Response>', 12200, "actionOnEmpty"),
        ("<Response><Gather><Dial>123456</Dial></Gather></Response>", 12200, "<Dial>"),
        ("<Response><Gather><Gather/></Gather></Response>", 12200, "<Gather>"),
        ("<Response><Pause>5</Pause></Response>", 12200, "unexpected text"),
        ('<Response><Pause length="0"/></Response>', 12200, "length"),
        ("<Response><Hangup><Say>x</Say></Hangup></Response>", 12200, "cannot be nested"),
        ('<Response><Reject reason="later"/></Response>', 12200, "reason"),
        ("<Response><Redirect/></Response>", 12200, "needs a URL"),
        ("<Response><Redirect>ftp://x/y</Redirect></Response>", 12200, "http"),
        ("<Response><Enqueue/></Response>", 12200, "queue name"),
        ("<Response><Dial/></Response>", 12200, "needs a number"),
        ("<Response><Dial>call me</Dial></Response>", 12200, "phone number"),
        ("<Response><Dial><Queue>support</Queue></Dial></Response>", 12200, "does not"),
        ("<Response><Dial><Conference/></Dial></Response>", 12200, "conference name"),
        ("<Response><Dial><Conference>a</Conference><Number>123456</Number></Dial></Response>",
         12200, "only noun"),
        ("<Response><Dial><Conference>a</Conference><Conference>b</Conference></Dial></Response>",
         12200, "only noun"),
        ('<Response><Dial><Conference statusCallbackEvent="completed">a</Conference></Dial>'
         "</Response>", 12200, "statusCallbackEvent"),
        ('<Response><Dial><Conference beep="loud">a</Conference></Dial></Response>',
         12200, "beep"),
        ('<Response><Dial><Conference endConferenceOnExit="yes">a</Conference></Dial>'
         "</Response>", 12200, "endConferenceOnExit"),
        ('<Response><Dial><Conference room="1">a</Conference></Dial></Response>', 12200, "'room'"),
        ("<Response><Dial>123456<Number>123456</Number></Dial></Response>", 12200, "mixes"),
        ("<Response><Dial><Client>two words</Client></Dial></Response>", 12200, "identity"),
        ('<Response><Dial><Number statusCallbackEvent="hung">1234</Number></Dial></Response>',
         12200, "statusCallbackEvent"),
        ("<Response><Leave/></Response>", 12200, "not allowed in a main document"),
    ],
)  # fmt: skip
def test_invalid_documents_are_refused_like_twilio(body: str, code: int, says: str) -> None:
    with pytest.raises(CallError) as raised:
        parse(body)

    assert raised.value.code == code
    assert says in raised.value.message
    assert raised.value.url == URL


@pytest.mark.parametrize(
    ("context", "verb"),
    [
        (Context.WAIT, "<Dial>123456</Dial>"),
        (Context.WAIT, "<Enqueue>q</Enqueue>"),
        (Context.WAIT, "<Reject/>"),
        (Context.WHISPER, "<Dial>123456</Dial>"),
        (Context.WHISPER, "<Leave/>"),
        (Context.WHISPER, "<Enqueue>q</Enqueue>"),
    ],
)
def test_each_context_allows_only_its_verbs(context: Context, verb: str) -> None:
    with pytest.raises(CallError) as raised:
        parse(f"<Response>{verb}</Response>", context)

    assert raised.value.code == 12200
    assert f"not allowed in a {context.value} document" in raised.value.message


def test_leave_is_allowed_while_waiting_in_a_queue() -> None:
    assert len(parse("<Response><Say>Hold on.</Say><Leave/></Response>", Context.WAIT).verbs) == 2
