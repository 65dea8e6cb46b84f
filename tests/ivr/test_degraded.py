"""Routing while the clinical system is down: the outage message, emergencies straight to the
dispatch line with the case id, nothing waiting on the clinical system; and the mode's API."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from console.tokens import Role
from routing import keys
from routing.clock import VirtualClock
from routing.handlers import HandlerState
from routing.journal import Journal
from tests.conftest import CALLER, DISPATCH, MAIN_LINE, WELSH_LINE
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.staff import Staff
from tests.twilio import TwilioClient
from tests.workers.test_clinical_bookings import handled_by_h1
from workers.job_queues import queue_of


def supervisor(twilio: TwilioClient, redis_url: str) -> Api:
    return Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))


def degrade(twilio: TwilioClient, redis_url: str) -> Api:
    api = supervisor(twilio, redis_url)
    result = api.send("PUT", "/api/v1/mode", {"mode": "degraded", "reason": "ransomware drill"})
    assert result["state"]["mode"] == "degraded"
    return api


def clinical_jobs(redis_url: str) -> list[tuple[str, tuple[object, ...]]]:
    connection = redis.Redis.from_url(redis_url)
    try:
        return [
            (str(job.func_name), tuple(job.args))
            for job in queue_of("clinical", connection).get_jobs()
        ]
    finally:
        connection.close()


def test_in_normal_mode_callers_hear_no_outage_message(twilio: TwilioClient) -> None:
    call = twilio.call(CALLER, MAIN_LINE)
    menu = call.press(call.start(), "2")
    assert "systems are affected" not in menu.text


def test_while_degraded_callers_hear_the_outage_message_after_the_screen(
    twilio: TwilioClient, redis_url: str
) -> None:
    api = degrade(twilio, redis_url)
    screen = twilio.call(CALLER, MAIN_LINE).start()
    assert "systems are affected" not in screen.text  # the emergency screen comes first, as ever

    api.send(
        "PUT",
        "/api/v1/mode/message",
        {
            "en": "Our systems are down; we are still here.",
            "cy": "Mae ein systemau i lawr; rydym yma o hyd.",
        },
    )
    call = twilio.call(CALLER, MAIN_LINE)
    menu = call.press(call.start(), "2")
    assert menu.said[0] == "Our systems are down; we are still here."
    assert "why you are calling" in menu.text

    welsh = twilio.call("+447700900001", WELSH_LINE)
    welsh_menu = welsh.press(welsh.press(welsh.start(), "1"), "2")
    assert welsh_menu.said[0] == "Mae ein systemau i lawr; rydym yma o hyd."
    assert welsh_menu.root.find("Gather/Say").get("voice") == "Polly.Gwyneth"  # type: ignore[union-attr]


def test_while_degraded_an_emergency_with_no_handler_free_goes_to_dispatch_at_once(
    twilio: TwilioClient, redis_url: str, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1")  # on duty, but busy
    degrade(twilio, redis_url)
    call = twilio.call(CALLER, MAIN_LINE)
    dial = to_queue(call, "1")

    number = dial.first("Number")
    assert number.text == DISPATCH
    case_id = str(sync_redis.hget(keys.call(call.sid), "case_id"))
    assert number.get("url", "").endswith(f"/twilio/dispatch-whisper?case={case_id}")
    [(func, args)] = clinical_jobs(redis_url)
    assert func == "workers.clinical_jobs.send_case"
    assert case_id in str(args[0])
    assert '"kind":"ambulance"' in str(args[0])
    assert args[1] is True  # an open case: replayed first


def test_while_degraded_an_emergency_still_goes_to_a_free_handler_first(
    twilio: TwilioClient, redis_url: str, staff: Staff, sync_redis: redis.Redis
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    degrade(twilio, redis_url)
    call = twilio.call(CALLER, MAIN_LINE)
    assert to_queue(call, "1").first("Enqueue").text == "emergency"
    assert sync_redis.hget(keys.call(call.sid), "status") == "reserved"


def test_the_dispatcher_hears_the_case_id(twilio: TwilioClient) -> None:
    whisper = twilio.twiml(
        "/twilio/dispatch-whisper?case=7K2QX-M9D4A", {"CallSid": "CA" + "1" * 32}
    )
    assert whisper.said == [
        "NHS 111 emergency transfer. Case 7 K 2 Q X M 9 D 4 A. The caller is being put through now."
    ]
    assert not whisper.has("Hangup")


def test_a_handler_cannot_book_while_degraded_but_a_referral_is_sent_by_a_job(
    twilio: TwilioClient, redis_url: str, staff: Staff, clock: VirtualClock
) -> None:
    _, handler = handled_by_h1(twilio, staff, redis_url)
    degrade(twilio, redis_url)

    refused = handler.send(
        "POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "appointment_booked"}, 409
    )
    assert refused == {"error": "bookings are not offered while the clinical system is down"}
    done = handler.send(
        "POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "referred", "notes": "GP tomorrow"}
    )
    assert done == {"handler": "h1", "outcome": "referred", "state": "available"}
    [(func, args)] = clinical_jobs(redis_url)
    assert func == "workers.clinical_jobs.send_case"
    assert '"kind":"referral"' in str(args[0])
    assert "GP tomorrow" in str(args[0])
    assert handler.get("/api/v1/handlers/h1")["state"] in ("available", "reserved")


def test_wrap_up_needs_a_call_to_wrap_up(
    twilio: TwilioClient, redis_url: str, staff: Staff
) -> None:
    staff("h1", state=HandlerState.AVAILABLE)
    handler = Api(twilio.client, token_for(redis_url, Role.HANDLER, "h1"))
    refused = handler.send("POST", "/api/v1/handlers/h1/wrap-up", {"outcome": "advice_given"}, 409)
    assert refused == {"error": "h1 has no call to wrap up"}


def test_the_mode_api_forces_and_restores_automatic_control_and_is_audited(
    twilio: TwilioClient, redis_url: str, clock: VirtualClock
) -> None:
    api = degrade(twilio, redis_url)
    handler = Api(twilio.client, token_for(redis_url, Role.HANDLER, "h1"))
    assert handler.get("/api/v1/mode")["state"]["mode"] == "degraded"  # everyone may read it
    refused = twilio.client.put(
        "/api/v1/mode", json={"mode": "normal", "reason": "x"}, headers=handler.headers
    )
    assert refused.status_code == 403
    bad = api.send("PUT", "/api/v1/mode", {"mode": "sideways", "reason": "x"}, 422)
    assert bad["problems"][0].startswith("mode: Input should be 'normal', 'degraded' or 'auto'")

    back = api.send("PUT", "/api/v1/mode", {"mode": "auto", "reason": "drill over"})
    assert (back["state"]["mode"], back["state"]["control"]) == ("normal", "auto")
    actions = [(row["action"], row["target"]) for row in api.get("/api/v1/audit?action=mode.set")]
    assert actions == [("mode.set", "auto"), ("mode.set", "degraded")]


def test_the_journal_api_lists_entries_without_bundles_and_reports_as_csv(
    twilio: TwilioClient, redis_url: str
) -> None:
    async def capture() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await Journal(client).capture(
                "EEEEE-00001",
                "ambulance",
                {"entry": [{"resource": {"telecom": [{"value": CALLER}]}}]},
                {"priority": 1, "number_ending": "123"},
                1_767_225_600.0,
                open_case=True,
            )
        finally:
            await client.aclose()

    asyncio.run(capture())
    api = supervisor(twilio, redis_url)
    [entry] = api.get("/api/v1/journal?status=pending")
    assert entry["case_id"] == "EEEEE-00001"
    assert "bundle" not in entry
    assert CALLER not in str(entry)
    assert api.get("/api/v1/journal/progress")["pending"] == 1
    report = twilio.client.get("/api/v1/journal/report?format=csv", headers=api.headers)
    assert report.headers["content-type"].startswith("text/csv")
    assert report.text.splitlines()[1].startswith("EEEEE-00001,ambulance,")
    assert api.get("/api/v1/journal/report")["entries"][0]["status"] == "pending"
    assert api.send("GET", "/api/v1/journal/NOPE0-NOPE0", None, 404) == {
        "error": "no journal entry for case 'NOPE0-NOPE0'"
    }
