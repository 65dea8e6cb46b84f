"""The handler console's onward forms: sending the caller on (to the ambulance service, or to a
clinician at an urgency of the rule set's) and arranging a clinician's callback, refusals shown
on the form, the CSRF token needed; "callback arranged" only once the callback exists; and what
the clinician sees of a caller sent on to them, or of a clinician's callback."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.models import case_id_for
from tests.console.web.conftest import People, signed_in
from tests.console.web.people import Person
from tests.ivr.test_clinician_callbacks import callback_leg, hang_up, on_a_call
from tests.ivr.test_connecting import sweep
from tests.staff import Staff
from tests.twilio import TwilioClient

LONDON = ZoneInfo("Europe/London")
IMMEDIATE = "Immediate (within 20 minutes)"
NOTES = 'Rash spreading <b>fast</b> & "worse" since noon.\nOn warfarin.'
NOTES_SHOWN = (
    "Rash spreading &lt;b&gt;fast&lt;/b&gt; &amp; &#34;worse&#34; since noon.\nOn warfarin."
)


def at(when: float) -> str:
    return datetime.fromtimestamp(when, LONDON).strftime("%H:%M")


def transfer_of(sync_redis: redis.Redis, sid: str) -> str | None:
    found = sync_redis.hget(keys.call(sid), "transfer")
    return str(found) if found is not None else None


@pytest.fixture
def clinician(people: People, redis_url: str) -> Person:
    """Signed in as clinician c1's account (c1 is for each test to create)."""
    return signed_in(people, redis_url, "cleo", Role.HANDLER, handler="c1")


def test_on_a_call_the_handler_sends_the_caller_to_a_clinician_with_an_urgency_and_notes(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1")
    page = handler_person.get("/console/handler").text
    assert '<form method="post" action="/console/handler/send-on"' in page
    assert f'<option value="immediate">{IMMEDIATE}</option>' in page
    assert '<option value="within_hour">Within hour (within 1 hour)</option>' in page
    assert "Stay on and introduce the case (warm transfer), for a clinician" in page

    done = handler_person.post(
        "/console/handler/send-on",
        {"to": "clinician", "urgency": "immediate", "notes": NOTES, "warm": "on"},
    )

    assert done.status_code == 200
    assert (
        f"The caller is on their way to a clinician, {IMMEDIATE}; stay on to introduce the case "
        "when a clinician joins, then hang up and wrap up."
    ) in done.text
    assert 'action="/console/handler/send-on"' not in done.text  # asked once
    assert f"Sent on by h1 at {at(clock.now())}, {IMMEDIATE}" in done.text
    kept = transfer_of(sync_redis, call.sid)
    assert kept is not None
    assert '"to":"clinician","urgency":"immediate"' in kept
    assert '"warm":true' in kept
    assert NOTES.replace("\n", "\\n").replace('"', '\\"') in kept


def test_to_the_ambulance_service_no_urgency_is_sent_and_the_rules_say_if_it_is_warm(
    handler_person: Person, staff: Staff, twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1")

    done = handler_person.post(
        "/console/handler/send-on",
        {"to": "dispatch", "urgency": "immediate", "warm": "on", "notes": "Chest pain"},
    )

    assert (  # the default rules send the caller on at once: the handler leaves
        "The caller is on their way to the ambulance service; wrap up when your call ends."
    ) in done.text
    kept = transfer_of(sync_redis, call.sid)
    assert kept is not None
    assert '"to":"dispatch","urgency":""' in kept
    assert '"warm":false' in kept  # the rule set's choice, not the form's
    assert sync_redis.zcard(keys.CLINICIAN_CLOCK) == 0  # no clinician's clock started


@pytest.mark.parametrize(
    ("form", "status", "field", "message"),
    [
        ({}, 422, "send-on-to", "This is needed."),
        ({"to": "the moon"}, 422, "send-on-to", "Choose one of the options."),
        (
            {"to": "clinician"},
            422,
            "send-on-urgency",
            "Choose how soon a clinician must speak to the patient.",
        ),
        ({"to": "dispatch", "notes": "x" * 4001}, 422, "send-on-notes", "Use at most 4000"),
        (
            {"to": "clinician", "urgency": "whenever"},
            409,
            "send-on",
            "Choose one of the urgencies: immediate, within_hour.",
        ),
    ],
)
def test_a_send_on_that_cannot_be_is_shown_on_the_form_and_nothing_changes(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    form: dict[str, str],
    status: int,
    field: str,
    message: str,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1")

    refused = handler_person.post("/console/handler/send-on", {"notes": "kept"} | form)

    assert refused.status_code == status
    assert f'<p class="field-error" id="{field}-error">{message}' in refused.text
    summary = refused.text.split('id="error-summary"')[1].split("</ul>")[0]
    anchor = "send-on-to-dispatch" if field == "send-on-to" else field
    assert f'<li><a href="#{anchor}">' in summary  # the summary leads to the field
    assert message in summary
    if field != "send-on-notes":
        assert ">kept</textarea>" in refused.text  # what they wrote is still there
    assert transfer_of(sync_redis, call.sid) is None
    assert sync_redis.hget(keys.handler("h1"), "state") == "busy"


def test_a_handler_not_on_a_call_is_told_there_is_nobody_to_send_on(
    handler_person: Person, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    page = handler_person.get("/console/handler").text
    assert 'action="/console/handler/send-on"' not in page
    assert 'action="/console/handler/clinician-callback"' not in page

    refused = handler_person.post("/console/handler/send-on", {"to": "dispatch"})

    assert refused.status_code == 409
    assert "You are not on a call: there is nobody to send on." in refused.text


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/console/handler/send-on", {"to": "dispatch"}),
        ("/console/handler/clinician-callback", {"urgency": "immediate"}),
    ],
)
def test_the_onward_forms_need_the_sessions_csrf_token(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    path: str,
    form: dict[str, str],
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1")
    handler_person.get("/console/handler")

    for token in ("", "forged-" + handler_person.csrf[7:]):
        refused = handler_person.post(path, form, token=token)
        assert refused.status_code == 403
        assert "This form has expired." in refused.text

    assert transfer_of(sync_redis, call.sid) is None
    assert sync_redis.hget(keys.call(call.sid), "clinician_callback") is None
    assert sync_redis.zcard(keys.CALLBACKS) == 0


def test_a_clinician_callback_arranged_at_wrap_up_lets_callback_arranged_be_chosen(
    handler_person: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    clock: VirtualClock,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    hang_up(twilio, call, connect)
    wrapping = handler_person.get("/console/handler").text
    assert 'value="callback_arranged" disabled aria-describedby="arranged-hint"' in wrapping
    assert "&ldquo;Callback arranged&rdquo; once a clinician callback is arranged" in wrapping
    refused = handler_person.post("/console/handler/wrap-up", {"outcome": "callback_arranged"})
    assert refused.status_code == 409
    unchosen = handler_person.post("/console/handler/clinician-callback", {"notes": "kept"})
    assert unchosen.status_code == 422
    assert (
        '<p class="field-error" id="clinician-urgency-error">'
        "Choose how soon a clinician must speak to the patient.</p>"
    ) in unchosen.text
    assert ">kept</textarea>" in unchosen.text

    made = handler_person.post(
        "/console/handler/clinician-callback", {"urgency": "immediate", "notes": NOTES}
    )

    callback_id = str(sync_redis.hget(keys.call(call.sid), "clinician_callback"))
    assert callback_id == f"{case_id_for(call.sid)}-C"
    said = (
        f"Clinician callback {callback_id} arranged, {IMMEDIATE}, due by {at(clock.now() + 1200)}."
    )
    assert said in made.text  # the notice
    assert f'<p class="notice" id="clinician-callback-made">{said}</p>' in made.text
    assert 'action="/console/handler/clinician-callback"' not in made.text
    assert 'value="callback_arranged" disabled' not in made.text
    assert sync_redis.hgetall(keys.callback(callback_id))["notes"] == NOTES
    done = handler_person.post("/console/handler/wrap-up", {"outcome": "callback_arranged"})
    assert "Wrap-up recorded (callback arranged). You are available for calls." in done.text


def test_a_withheld_callers_clinician_callback_needs_a_number_and_a_uk_phone(
    handler_person: Person, staff: Staff, twilio: TwilioClient, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, _ = on_a_call(twilio, "h1", caller="anonymous")
    page = handler_person.get("/console/handler").text
    assert "The caller's number is withheld: give the one they want" in page

    no_number = handler_person.post("/console/handler/clinician-callback", {"urgency": "immediate"})
    premium = handler_person.post(
        "/console/handler/clinician-callback", {"urgency": "immediate", "number": "09098790000"}
    )
    made = handler_person.post(
        "/console/handler/clinician-callback", {"urgency": "immediate", "number": "07700900555"}
    )

    assert no_number.status_code == 409
    assert (
        '<p class="field-error" id="clinician-error">Give the number to call the patient back on'
    ) in no_number.text
    assert premium.status_code == 409
    assert "…000 is not a UK phone a patient can be called back on." in premium.text
    assert 'value="09098790000"' in premium.text  # kept, to correct
    assert "Clinician callback" in made.text
    callback_id = str(sync_redis.hget(keys.call(call.sid), "clinician_callback"))
    assert sync_redis.hget(keys.callback(callback_id), "number") == "+447700900555"


def test_the_clinician_offered_a_caller_sent_on_sees_who_sent_them_when_how_urgently_and_why(
    handler_person: Person,
    clinician: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    asked_at = clock.now()
    sent = handler_person.post(
        "/console/handler/send-on", {"to": "clinician", "urgency": "immediate", "notes": NOTES}
    )
    assert (
        f"The caller is on their way to a clinician, {IMMEDIATE}; wrap up when your call ends."
    ) in sent.text  # cold: the handler leaves at once
    hang_up(twilio, call, connect)  # the handler's leg leaves: the caller's Dial action
    assert sync_redis.hget(keys.call(call.sid), "queue") == "clinician"
    wrapping = handler_person.get("/console/handler").text
    assert "&ldquo;Callback arranged&rdquo; is not for a caller sent on." in wrapping
    assert 'action="/console/handler/clinician-callback"' not in wrapping
    clock.advance(120)
    staff("c1", state=HandlerState.AVAILABLE, skills={"clinician": 3})
    [offer] = sweep(redis_url, clock.now()).offers
    assert (offer.member, offer.handler) == (call.sid, "c1")

    page = clinician.get("/console/handler").text

    assert f"Sent on by h1 at {at(asked_at)}, {IMMEDIATE}" in page
    assert f'<p class="staff-notes" id="case-sent-on-notes">{NOTES_SHOWN}</p>' in page
    assert "<b>fast</b>" not in page  # staff text, escaped
    assert 'action="/console/handler/send-on"' not in page  # offered: not yet theirs to send


def test_the_clinician_offered_a_clinicians_callback_sees_its_urgency_due_by_and_notes(
    handler_person: Person,
    clinician: Person,
    staff: Staff,
    twilio: TwilioClient,
    sync_redis: redis.Redis,
    redis_url: str,
    clock: VirtualClock,
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    call, connect = on_a_call(twilio, "h1")
    handler_person.post(
        "/console/handler/clinician-callback", {"urgency": "immediate", "notes": NOTES}
    )
    due = at(clock.now() + 1200)
    hang_up(twilio, call, connect)
    clock.advance(300)
    staff("c1", state=HandlerState.AVAILABLE, skills={"clinician": 3})
    [offer] = sweep(redis_url, clock.now()).offers
    callback_id = keys.callback_id(offer.member)
    callback_leg(twilio, "/twilio/callback/answer", callback_id, "c1", "handler")

    page = clinician.get("/console/handler").text

    assert "(a callback)" in page
    assert f"A clinician's callback, asked for by h1: {IMMEDIATE}, due by {due}" in page
    assert f'<p class="staff-notes" id="case-clinician-notes">{NOTES_SHOWN}</p>' in page
    assert 'value="callback_arranged"' not in page  # not wrapping up yet
