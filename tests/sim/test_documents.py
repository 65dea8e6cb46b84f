"""Fetching documents: Redirect and relative URLs, signatures, and what happens when the
application fails (fallback, then Twilio's application-error message)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from tests.sim.servers import AppUnderTest, SimClient, free_port, twiml


def of_type(record: dict[str, object], type_: str) -> list[dict[str, object]]:
    events = record["events"]
    assert isinstance(events, list)
    return [event for event in events if event["type"] == type_]


def test_redirect_resolves_relative_urls_against_the_document(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml("<Redirect>steps/two?from=voice</Redirect>"))
    app.on("/twilio/steps/two", twiml('<Redirect method="GET">../three?x=1&amp;y=2</Redirect>'))
    app.on("/twilio/three", twiml("<Say>Done.</Say>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    second = app.to("/twilio/steps/two")[0]
    assert second.method == "POST"
    assert second.url == app.url("/twilio/steps/two?from=voice")
    third = app.to("/twilio/three")[0]
    assert third.method == "GET"
    # A GET carries the parameters in the query, after the URL's own; the signature covers all.
    assert third.url.startswith(app.url("/twilio/three?x=1&y=2&AccountSid="))
    assert third.params["CallSid"] == sid
    assert third.signature_valid
    assert [event["url"] for event in of_type(record, "redirect")] == [
        app.url("/twilio/steps/two?from=voice"),
        app.url("/twilio/three?x=1&y=2"),
    ]
    assert of_type(record, "error") == []


def test_invalid_twiml_is_error_12100_and_the_fallback_runs(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", "<Response><Say>unclosed</Response>")
    app.on("/twilio/fallback", twiml("<Say>Sorry, please call again.</Say>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    errors = of_type(record, "error")
    assert [(error["code"], error["url"]) for error in errors] == [
        (12100, app.url("/twilio/voice"))
    ]
    fallback = app.to("/twilio/fallback")[0]
    assert fallback.params["ErrorCode"] == "12100"
    assert fallback.params["ErrorUrl"] == app.url("/twilio/voice")
    assert fallback.params["CallSid"] == sid
    assert [event["text"] for event in of_type(record, "say")] == ["Sorry, please call again."]


def test_schema_violations_are_error_12200(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", twiml('<Gather numDigits="one"/>'))
    app.on("/twilio/fallback", twiml("<Hangup/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    [error] = of_type(record, "error")
    assert error["code"] == 12200
    assert "numDigits" in str(error["message"])


def test_a_500_from_the_application_is_error_11200_and_the_fallback_runs(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Gather numDigits="1" action="/broken"/>'))
    app.on("/broken", lambda request: Response("boom", status_code=500))
    app.on("/twilio/fallback", twiml("<Say>Fallback.</Say>"))
    sid = sim.call(["1"])

    record = sim.wait_ended(sid)

    [error] = of_type(record, "error")
    assert (error["code"], error["url"]) == (11200, app.url("/broken"))
    fallback = app.to("/twilio/fallback")[0].params
    assert (fallback["ErrorCode"], fallback["ErrorUrl"]) == ("11200", app.url("/broken"))
    assert fallback["CallStatus"] == "in-progress"


def test_when_the_fallback_fails_too_the_caller_hears_the_application_error(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", lambda request: Response("down", status_code=503))
    app.on("/twilio/fallback", "this is not xml")
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert [error["code"] for error in of_type(record, "error")] == [11200, 12100]
    assert [event["text"] for event in of_type(record, "say")] == [
        "We are sorry, an application error has occurred. Goodbye."
    ]
    assert [event["by"] for event in of_type(record, "hangup")] == ["error"]
    assert record["status"] == "completed"


def test_an_unreachable_url_is_a_connection_failure(app: AppUnderTest, sim: SimClient) -> None:
    dead = f"http://127.0.0.1:{free_port()}/gone"
    app.on("/twilio/voice", twiml(f"<Redirect>{dead}</Redirect>"))
    app.on("/twilio/fallback", twiml("<Hangup/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    [error] = of_type(record, "error")
    assert (error["code"], error["url"]) == (11205, dead)
    assert app.to("/twilio/fallback")[0].params["ErrorUrl"] == dead


def test_twiml_served_as_plain_text_is_refused(app: AppUnderTest, sim: SimClient) -> None:
    app.on("/twilio/voice", lambda request: Response(twiml("<Hangup/>"), media_type="text/plain"))
    app.on("/twilio/fallback", twiml("<Hangup/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert [error["code"] for error in of_type(record, "error")] == [12300]


def test_reject_as_the_first_verb_leaves_the_call_unanswered(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Reject reason="busy"/>'))
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert record["status"] == "busy"
    assert [event["status"] for event in of_type(record, "status")] == ["ringing", "busy"]
    callback = app.wait_for("/twilio/status")[0].params
    assert (callback["CallStatus"], callback["CallDuration"]) == ("busy", "0")


def test_the_end_of_the_document_ends_the_call_with_a_completed_callback(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", twiml('<Say>Hello.</Say><Pause length="2"/>'))
    sid = sim.call()

    record = sim.wait_ended(sid)

    assert [event["by"] for event in of_type(record, "hangup")] == ["app"]
    [callback] = app.wait_for("/twilio/status")
    assert callback.params["CallStatus"] == "completed"
    # Two simulated seconds of pause; at a 0.02 time scale real overheads may add a second.
    assert callback.params["CallDuration"] in {"2", "3"}
    assert callback.params["SequenceNumber"] == "0"
    assert callback.params["CallbackSource"] == "call-progress-events"
    assert callback.params["Timestamp"].endswith("+0000")


def test_http_redirects_are_followed_and_signed_for_the_new_url(
    app: AppUnderTest, sim: SimClient
) -> None:
    app.on("/twilio/voice", lambda request: RedirectResponse("/v2/voice", status_code=307))
    app.on("/v2/voice", twiml("<Redirect>next</Redirect>"))
    app.on("/v2/next", twiml("<Hangup/>"))
    sid = sim.call()

    record = sim.wait_ended(sid)

    moved = app.to("/v2/voice")[0]
    assert (moved.method, moved.params["CallSid"]) == ("POST", sid)
    assert moved.signature_valid
    # Relative URLs resolve against where the document finally came from.
    assert len(app.to("/v2/next")) == 1
    assert of_type(record, "error") == []
