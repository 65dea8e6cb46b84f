"""The supervisor's other pages: the wallboard and its live stream, mode control, the journal,
handlers on the floor, the audit log and (for admins) accounts."""

from __future__ import annotations

import asyncio
import json
import re

import redis
import redis.asyncio

from console.tokens import Role
from prompts.catalogue import Locale
from routing.calls import Calls
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.journal import Journal
from routing.models import Answers, Call, Placement, Priority, Reason, Screen, case_id_for
from tests.conftest import NUMBERS
from tests.console.test_api import RULES, token_for
from tests.console.web.people import BASE, Person
from tests.staff import Staff
from tests.twilio import new_sid

TOKEN_ID = re.compile(r"Revoke ([0-9a-f]{12})<")


def queue_call(redis_url: str, now: float, priority: Priority, queue: str = "general") -> str:
    async def go() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            sid = new_sid()
            answers = Answers(locale=Locale.EN, screen=Screen.NO, reason=Reason.MEDICAL)
            placement = Placement(route="medical", queue=queue, priority=priority)
            call = Call(sid=sid, caller="+447700900123", line="+441134960000", answers=answers)
            await Calls(client, numbers=NUMBERS).enqueue(call, placement, now)
            return sid
        finally:
            await client.aclose()

    return asyncio.run(go())


def events(person: Person, path: str) -> dict[str, str]:
    """One round of a live stream: region id -> its HTML."""
    response = person.client.get(f"{BASE}{path}", headers={"accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    regions = {}
    for block in response.text.split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0] == "event: region":
            data = json.loads("\n".join(line.removeprefix("data: ") for line in lines[1:]))
            regions[data["id"]] = data["html"]
    return regions


def test_the_wallboard_shows_who_waits_per_queue_and_priority_live(
    supervisor: Person, redis_url: str, clock: VirtualClock, staff: Staff
) -> None:
    queue_call(redis_url, clock.now() - 95, Priority.STANDARD)
    queue_call(redis_url, clock.now() - 5, Priority.EMERGENCY, "emergency")
    staff("h1", state=HandlerState.BREAK)
    page = supervisor.get("/console/wallboard")
    assert page.status_code == 200
    assert (
        '<strong>2</strong> waiting, <strong class="alert-text">1 at priority 1</strong>'
        in page.text
    )
    assert "1 min 35 s" in page.text  # the longest wait in general
    assert '<svg class="chart"' in page.text
    assert 'data-stream="/console/events/wallboard?window=15m"' in page.text
    live = events(supervisor, "/console/events/wallboard?window=1h&once=1")
    assert set(live) == {"mode", "emergencies", "summary", "floor", "chart", "feedback"}
    assert "Mode: normal" in live["mode"]
    assert "Queues (last hour)" in live["floor"]
    assert "<dt>Break</dt><dd>1</dd>" in live["floor"]
    assert "2 offered" in live["chart"]


def test_forcing_degraded_mode_is_audited_and_shown_at_the_top_of_every_page(
    supervisor: Person,
) -> None:
    done = supervisor.post(
        "/console/mode", {"mode": "degraded", "reason": "clinical system down (drill)"}
    )
    assert "The mode is forced degraded; it is now degraded." in done.text
    for path in ("/console/wallboard", "/console/callbacks", "/console/audit"):
        page = supervisor.get(path).text
        assert "Mode: degraded" in page
        assert "clinical system down (drill)" in page
        assert "Forced by sue" in page
    assert "Mode: degraded" in events(supervisor, "/console/events/handlers?once=1")["mode"]
    back = supervisor.post("/console/mode", {"mode": "auto", "reason": "drill over"})
    assert "The mode is automatic; it is now normal." in back.text
    audit = supervisor.get("/console/audit?action=mode.set").text
    assert "reason: clinical system down (drill)" in audit
    assert "reason: drill over" in audit


def test_a_priority_1_caller_waiting_is_at_the_top_of_every_supervisor_page_until_reached(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    sid = queue_call(redis_url, clock.now() - 12, Priority.EMERGENCY, "emergency")
    waiting = f"Case {case_id_for(sid)} in emergency, waiting 12 s"
    for path in ("/console/wallboard", "/console/callbacks", "/console/audit", "/console/rules"):
        page = supervisor.get(path).text
        assert "Priority 1 waiting: 1" in page
        assert waiting in page
    assert waiting in events(supervisor, "/console/events/handlers?once=1")["emergencies"]
    # Pages with no live regions of their own are live at the top all the same.
    assert 'data-stream="/console/events/top"' in supervisor.get("/console/callbacks").text
    assert waiting in events(supervisor, "/console/events/top?once=1")["emergencies"]

    asyncio.run(dispatched(redis_url, sid, clock.now()))

    assert "Priority 1 waiting" not in supervisor.get("/console/wallboard").text
    assert "Priority 1" not in events(supervisor, "/console/events/handlers?once=1")["emergencies"]


async def dispatched(redis_url: str, sid: str, now: float) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await Calls(client).dispatch(sid, now)
    finally:
        await client.aclose()


def test_a_mode_change_needs_a_reason_and_a_known_mode(supervisor: Person) -> None:
    page = supervisor.post("/console/mode", {"mode": "degraded", "reason": "   "})
    assert page.status_code == 422
    assert 'id="reason-error"' in page.text
    assert supervisor.post("/console/mode", {"mode": "panic", "reason": "x"}).status_code == 422
    assert "Mode: normal" in supervisor.get("/console/mode").text


def test_the_outage_message_is_saved_in_both_languages(supervisor: Person) -> None:
    saved = supervisor.post(
        "/console/mode/message",
        {"en": "Our systems are slow; we will help you.", "cy": "Mae ein systemau'n araf."},
    )
    assert "The outage message is saved in both languages." in saved.text
    assert "Our systems are slow; we will help you." in saved.text
    refused = supervisor.post("/console/mode/message", {"en": "Only English", "cy": ""})
    assert refused.status_code == 422
    assert "Welsh</a>:" in refused.text


def capture(redis_url: str, now: float, outcomes: dict[str, str]) -> None:
    async def go() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            journal = Journal(client)
            for number, (case_id, outcome) in enumerate(outcomes.items()):
                facts = {"priority": 3, "number_ending": "123"}
                bundle = {"resourceType": "Bundle", "telecom": "+447700900123"}
                await journal.capture(case_id, "referral", bundle, facts, now + number)
                if outcome != "pending":
                    await journal.outcome(case_id, outcome, now + 10, "refused: no such GP")
        finally:
            await client.aclose()

    asyncio.run(go())


def test_the_journal_shows_progress_failures_and_the_report(
    supervisor: Person, redis_url: str, clock: VirtualClock, sync_redis: redis.Redis
) -> None:
    capture(
        redis_url,
        clock.now(),
        {"AAAAA-00001": "delivered", "AAAAA-00002": "failed", "AAAAA-00003": "pending"},
    )
    page = supervisor.get("/console/journal")
    assert 'max="3" value="1"' in page.text  # the progress bar: one of three sent
    assert "Reconciliation: 1 of 3 sent to the clinical system, 1 failed, 1 waiting" in page.text
    failures = page.text.split('id="failures-heading"')[1].split('id="entries-heading"')[0]
    assert "AAAAA-00002" in failures
    assert "refused: no such GP" in failures
    assert "AAAAA-00001" not in failures
    assert "+447700900123" not in page.text  # the bundle (with the number) is never shown
    assert (
        "Reconciliation: 1 of 3" in events(supervisor, "/console/events/journal?once=1")["progress"]
    )
    report = supervisor.get("/console/journal/report")
    assert (
        '<th scope="row">referral</th><td class="num">1</td><td class="num">1</td>' in report.text
    )
    csv = supervisor.get("/console/journal/report.csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="contingency-journal.csv"'
    assert csv.text.splitlines()[0] == "case_id,kind,captured,open,status,attempts,delivered,error"
    assert len(csv.text.splitlines()) == 4
    started = supervisor.post("/console/journal/reconcile")
    assert "Reconciliation is queued." in started.text
    assert sync_redis.exists("rq:job:reconcile")
    assert "<code>journal.reconcile</code>" in supervisor.get("/console/audit").text


def test_handlers_on_the_floor_and_a_supervisor_taking_one_off_it(
    supervisor: Person, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    staff("h2", state=HandlerState.BUSY)
    page = supervisor.get("/console/handlers")
    assert "Available: <strong>1</strong>" in page.text
    assert 'id="offline-h1"' in page.text
    assert 'id="offline-h2"' not in page.text  # not in the middle of a call
    done = supervisor.post("/console/handlers/h1/offline", {"reason": "console frozen"})
    assert "h1 is offline." in done.text
    assert "Offline: <strong>1</strong>" in done.text
    audit = supervisor.get("/console/audit?action=handler.state").text
    assert "state: offline; reason: console frozen" in audit
    assert supervisor.post("/console/handlers/nobody/offline").status_code == 404


def test_the_audit_log_filters_by_person(supervisor: Person) -> None:
    supervisor.post("/console/mode", {"mode": "degraded", "reason": "one"})
    assert "mode.set" in supervisor.get("/console/audit?actor=sue").text
    assert "mode.set" not in supervisor.get("/console/audit?actor=someone").text.split("<tbody>")[1]


def test_an_admin_adds_and_disables_accounts_clearly(admin: Person) -> None:
    added = admin.post(
        "/console/accounts",
        {
            "username": "hana",
            "name": "Hana",
            "handler": "h1",
            "password": "a good long password",
            "role": "handler",
            "remember-me": "on",  # what a browser or an extension may add: not a mistake
        },
    )
    assert "Account hana (handler) added." in added.text
    assert "a good long password" not in added.text
    again = admin.post(
        "/console/accounts",
        {
            "username": "hana",
            "name": "H",
            "password": "a good long password",
            "role": "handler",
            "handler": "h1",
        },
    )
    assert again.status_code == 409
    bad = admin.post(
        "/console/accounts",
        {"username": "Bad Name", "name": "", "password": "short", "role": "handler"},
    )
    assert bad.status_code == 422
    for field in ("Username", "Name", "Password"):
        assert f'">{field}</a>:' in bad.text
    assert "Use 2 to 32 lower-case letters, digits, dots, dashes or underscores" in bad.text
    assert "This is needed." in bad.text  # the name, left empty
    assert "should match pattern" not in bad.text
    assert admin.post("/console/accounts/ada/disable").status_code == 409
    assert "Account hana is disabled" in admin.post("/console/accounts/hana/disable").text
    audit = admin.get("/console/audit").text
    assert "<code>account.create</code>" in audit
    assert "<code>account.disable</code>" in audit


def test_an_admin_sees_every_api_token_and_revokes_one(admin: Person, redis_url: str) -> None:
    secret = token_for(redis_url, Role.SUPERVISOR, scopes=RULES)
    page = admin.get("/console/accounts")
    assert page.status_code == 200
    assert "API tokens" in page.text
    [token_id] = TOKEN_ID.findall(page.text)
    assert "rules" in page.text
    assert secret not in page.text  # only ever shown once, when made

    revoked = admin.post(f"/console/tokens/{token_id}/revoke", {})
    assert f"API token {token_id} is revoked." in revoked.text
    assert f"Revoke {token_id}" not in revoked.text
    audit = admin.get("/console/audit")
    assert "token.revoke" in audit.text


def test_only_an_admin_may_revoke_a_token(supervisor: Person, redis_url: str) -> None:
    token_for(redis_url, Role.SUPERVISOR)
    assert supervisor.post("/console/tokens/abc/revoke", {}).status_code == 403
