"""Jobs and the clinical system (the stub, over real HTTP): sending, the journal while it is down,
e-mail to a local SMTP sink, the probe, and reconciliation once it is back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import redis.asyncio
from pydantic import SecretStr

from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from routing.clock import VirtualClock
from routing.journal import EntryStatus, Journal
from routing.mode import Mode
from tests.sim.clinical.stub import StubControl
from tests.workers.conftest import Sink
from workers.clinical_jobs import capture, email_case_in, probe_in, send_case_in
from workers.email import NotSent
from workers.fhir import bundle_json
from workers.job_queues import queue_of
from workers.replay import reconcile_in
from workers.runtime import Runtime

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0


def case(case_id: str, kind: CaseKind = CaseKind.REFERRAL, minutes: int = 0) -> ClinicalCase:
    return ClinicalCase(
        case_id=case_id,
        kind=kind,
        created=datetime.fromtimestamp(T0 + minutes * 60, UTC),
        caller_number="+447700900123",
        locale="en-GB",
        reason="medical",
        priority=1 if kind is CaseKind.AMBULANCE else 3,
        handler_notes="chest pain, stable",
    )


async def test_in_normal_mode_a_case_goes_to_the_clinical_system(
    rt: Runtime, stub: StubControl
) -> None:
    assert await send_case_in(rt, case("AAAAA-00001")) == "created"
    [received] = stub.received("AAAAA-00001")
    assert received["outcome"] == "created"
    assert received["bundle"]["identifier"]["value"] == "AAAAA-00001"
    assert (await Journal(rt.redis).progress()).captured == 0


async def test_while_degraded_nothing_is_sent_and_the_case_is_journaled_and_emailed(
    rt: Runtime, stub: StubControl, smtp: tuple[Sink, int]
) -> None:
    await rt.modes.force(Mode.DEGRADED, "drill", "sam", T0)
    assert await send_case_in(rt, case("AAAAA-00002")) == "journaled"
    assert stub.received() == []
    entry = await Journal(rt.redis).get("AAAAA-00002")
    assert entry is not None
    assert (entry.status, entry.kind, entry.notes) == (
        EntryStatus.PENDING,
        "referral",
        "chest pain, stable",
    )
    assert entry.facts["number_ending"] == "123"
    assert "+447700900123" not in str(entry.facts)
    tags = [tag["code"] for tag in entry.bundle["meta"]["tag"]]
    assert tags == ["contingency"]
    [mail] = smtp[0].messages
    assert mail["To"] == "receiving@service.example"
    assert "AAAAA-00002" in mail["Subject"]
    assert "telephone: +447700900123" in mail.get_payload()


async def test_a_system_that_is_down_gets_the_case_journaled_and_counts_a_failure(
    rt: Runtime, stub: StubControl
) -> None:
    stub.fault("down")
    try:
        assert await send_case_in(rt, case("AAAAA-00003")) == "journaled"
    finally:
        stub.fault("up")
    assert (await Journal(rt.redis).progress()).pending == 1
    [latest] = await rt.breaker.history(count=1)
    assert (latest["outcome"], latest["source"]) == ("failed", "job")


async def test_a_probe_that_waited_past_its_interval_is_skipped_and_counts_for_nothing(
    rt: Runtime, stub: StubControl
) -> None:
    stub.fault("errors")
    interval = rt.settings.clinical_probe_interval_seconds
    try:
        assert await probe_in(rt, queued=rt.clock.now() - interval - 1) == "skipped"
        assert await rt.breaker.history() == []
        assert await probe_in(rt, queued=rt.clock.now() - interval) == "failed"
    finally:
        stub.fault("up")
    assert [row["outcome"] for row in await rt.breaker.history()] == ["failed"]


async def test_a_probe_of_a_system_that_hangs_gives_up_after_the_probe_timeout(
    rt: Runtime, stub: StubControl
) -> None:
    stub.fault("slow", slow_seconds=30)
    try:
        assert await probe_in(rt) == "failed"
    finally:
        stub.fault("up")
    [latest] = await rt.breaker.history(count=1)
    assert latest["detail"] == "no answer within 1.5 s"  # CLINICAL_PROBE_TIMEOUT_SECONDS


async def test_probes_switch_the_mode_with_hysteresis(rt: Runtime, stub: StubControl) -> None:
    clock = rt.clock
    assert isinstance(clock, VirtualClock)
    stub.fault("errors")
    try:
        for _ in range(3):
            assert await probe_in(rt) == "failed"
            clock.advance(5)
    finally:
        stub.fault("up")
    assert (await rt.modes.read()).mode is Mode.DEGRADED
    for _ in range(3):
        await probe_in(rt)
        clock.advance(5)
    assert (await rt.modes.read()).mode is Mode.DEGRADED  # 3 probes, only 10 s
    for _ in range(4):
        await probe_in(rt)
        clock.advance(5)
    assert (await rt.modes.read()).mode is Mode.NORMAL


async def journal_three(rt: Runtime) -> None:
    await capture(rt, case("BBBBB-00001", CaseKind.REFERRAL, minutes=1), open_case=False)
    await capture(rt, case("BBBBB-00002", CaseKind.AMBULANCE, minutes=2), open_case=False)
    await capture(rt, case("BBBBB-00003", CaseKind.REFERRAL, minutes=3), open_case=True)


async def test_reconciliation_replays_open_cases_first_then_by_time(
    rt: Runtime, stub: StubControl
) -> None:
    await journal_three(rt)
    assert await reconcile_in(rt) == {"delivered": 3, "failed": 0}
    order = [record["case_id"] for record in stub.received()]
    assert order == ["BBBBB-00002", "BBBBB-00003", "BBBBB-00001"]
    progress = await Journal(rt.redis).progress()
    assert (progress.delivered, progress.pending, progress.running) == (3, 0, False)


async def test_a_replayed_case_the_system_already_has_counts_as_delivered(
    rt: Runtime, stub: StubControl
) -> None:
    await journal_three(rt)
    stub.fault("duplicates")
    try:
        assert await reconcile_in(rt) == {"delivered": 3, "failed": 0}
    finally:
        stub.fault("up")
    entry = await Journal(rt.redis).get("BBBBB-00001")
    assert entry is not None
    assert entry.status is EntryStatus.DUPLICATE


async def test_reconciliation_stops_when_the_system_fails_again_and_loses_nothing(
    rt: Runtime, stub: StubControl
) -> None:
    await journal_three(rt)
    stub.fault("down")
    try:
        assert await reconcile_in(rt) == {"delivered": 0, "failed": 0}
    finally:
        stub.fault("up")
    assert (await Journal(rt.redis).progress()).pending == 3
    assert await reconcile_in(rt) == {"delivered": 3, "failed": 0}


async def test_a_refused_entry_leaves_the_queue_but_stays_visible_with_its_reason(
    rt: Runtime,
) -> None:
    journal = Journal(rt.redis)
    await journal_three(rt)
    assert (
        await journal.outcome("BBBBB-00001", "failed", T0 + 60, "422 unknown practice") == "failed"
    )
    assert await journal.next_pending(10) == ["BBBBB-00002", "BBBBB-00003"]
    [failed] = await journal.entries(EntryStatus.FAILED)
    assert (failed.case_id, failed.error) == ("BBBBB-00001", "422 unknown practice")
    assert (await journal.progress()).failed == 1
    # A later outcome for an entry already settled changes nothing.
    assert await journal.outcome("BBBBB-00001", "delivered", T0 + 70) == "failed"


async def test_the_same_case_captured_twice_is_one_entry(rt: Runtime) -> None:
    journal = Journal(rt.redis)
    assert await capture(rt, case("DDDDD-00001"), open_case=False)
    assert not await capture(rt, case("DDDDD-00001"), open_case=True)
    assert (await journal.progress()).captured == 1
    entry = await journal.get("DDDDD-00001")
    assert entry is not None
    assert entry.open


def wrap_up_of(opened: ClinicalCase, notes: str) -> ClinicalCase:
    return opened.model_copy(update={"request": Request.WRAP_UP, "handler_notes": notes})


def notes_in(bundle: dict[str, Any]) -> list[str]:
    return [note["text"] for entry in bundle["entry"] for note in entry["resource"].get("note", [])]


async def test_a_wrap_up_is_its_own_request_so_its_notes_are_not_taken_for_a_duplicate(
    rt: Runtime, stub: StubControl
) -> None:
    opened = case("EEEEE-00001").model_copy(update={"handler_notes": ""})
    assert await send_case_in(rt, opened) == "created"  # when the callback was booked
    wrap_up = wrap_up_of(opened, "called back: advice given, GP tomorrow")
    assert await send_case_in(rt, wrap_up) == "created"
    assert await send_case_in(rt, wrap_up) == "duplicate"  # a retried job

    first, second, third = stub.received()
    assert first["bundle"]["identifier"]["value"] == "EEEEE-00001"
    assert second["bundle"]["identifier"]["value"] == "EEEEE-00001/wrap-up"
    assert "called back: advice given, GP tomorrow" in notes_in(second["bundle"])
    referral = second["bundle"]["entry"][2]["resource"]
    assert referral["requisition"]["value"] == "EEEEE-00001"  # the same case
    assert referral["identifier"][0]["value"] == "EEEEE-00001/wrap-up"  # its own request
    assert third["outcome"] == "duplicate"


async def test_on_a_plain_fhir_server_a_case_and_its_wrap_up_are_held_once_each(
    rt: Runtime, stub: StubControl
) -> None:
    stub.server("plain")
    opened = case("EEEEE-00003").model_copy(update={"handler_notes": ""})
    wrap_up = wrap_up_of(opened, "advice given")

    results = [await send_case_in(rt, request) for request in (opened, opened, wrap_up, wrap_up)]

    assert results == ["created", "duplicate", "created", "duplicate"]
    requests = sorted(
        (resource["resourceType"], resource["identifier"][0]["value"])
        for resource in stub.resources()
    )
    assert requests == sorted(
        (kind, f"EEEEE-00003/{request}")
        for kind in ("Patient", "Encounter", "ServiceRequest")
        for request in ("opened", "wrap-up")
    )


async def test_a_wrap_up_journaled_after_its_case_was_replayed_is_replayed_too(
    rt: Runtime, stub: StubControl
) -> None:
    journal = Journal(rt.redis)
    opened = case("EEEEE-00002").model_copy(update={"handler_notes": ""})
    assert await capture(rt, opened, open_case=True)
    assert await reconcile_in(rt) == {"delivered": 1, "failed": 0}

    await capture(rt, wrap_up_of(opened, "ambulance arrived"), open_case=False)
    entry = await journal.get("EEEEE-00002")
    assert entry is not None
    assert (entry.status, entry.notes) == (EntryStatus.PENDING, "ambulance arrived")
    progress = await journal.progress()
    assert (progress.captured, progress.delivered, progress.pending) == (1, 0, 1)

    assert await reconcile_in(rt) == {"delivered": 1, "failed": 0}
    replayed = [record["bundle"]["identifier"]["value"] for record in stub.received()]
    assert replayed == ["EEEEE-00002", "EEEEE-00002/wrap-up"]
    assert "ambulance arrived" in notes_in(stub.received()[1]["bundle"])
    assert (await journal.progress()).delivered == 1


async def test_an_email_the_mail_server_did_not_take_is_sent_again_by_a_retried_job(
    rt: Runtime, smtp: tuple[Sink, int], redis_url: str
) -> None:
    down = replace(
        rt, settings=rt.settings.model_copy(update={"smtp_url": SecretStr("smtp://127.0.0.1:9")})
    )
    await rt.modes.force(Mode.DEGRADED, "drill", "sam", T0)
    assert await send_case_in(down, case("FFFFF-00001")) == "journaled"
    assert smtp[0].messages == []

    connection = redis.Redis.from_url(redis_url)
    try:
        [job] = queue_of("clinical", connection).get_jobs()
        assert (job.id, job.func_name, list(job.args)) == (  # JSON: a list
            "email-FFFFF-00001",
            "workers.clinical_jobs.email_case",
            ["FFFFF-00001"],
        )
        assert job.retries_left == 8
    finally:
        connection.close()
    with pytest.raises(NotSent):  # still down: the job fails, and RQ tries again later
        await email_case_in(down, "FFFFF-00001")
    assert await email_case_in(rt, "FFFFF-00001") == "sent"  # the server is back
    [mail] = smtp[0].messages
    assert "FFFFF-00001" in mail["Subject"]
    assert "telephone: +447700900123" in mail.get_payload()
    assert "notes: chest pain, stable" in mail.get_payload()


async def test_a_booking_journaled_while_down_is_replayed_with_its_appointment(
    rt: Runtime, stub: StubControl
) -> None:
    slot = BookedSlot(
        slot="Slot/utc-0930",
        start=datetime.fromtimestamp(T0 + 3600, UTC),
        end=datetime.fromtimestamp(T0 + 4500, UTC),
    )
    booking = ClinicalCase.model_validate(
        case("GGGGG-00001").model_dump() | {"kind": CaseKind.BOOKING, "appointment": slot}
    )
    await rt.modes.force(Mode.DEGRADED, "drill", "sam", T0)
    assert await send_case_in(rt, booking) == "journaled"
    entry = await Journal(rt.redis).get("GGGGG-00001")
    assert entry is not None
    assert entry.facts["appointment_slot"] == "Slot/utc-0930"

    await rt.modes.force(Mode.NORMAL, "back", "sam", T0 + 60)
    assert await reconcile_in(rt) == {"delivered": 1, "failed": 0}
    [received] = stub.received("GGGGG-00001")
    [appointment] = [
        entry["resource"]
        for entry in received["bundle"]["entry"]
        if entry["resource"]["resourceType"] == "Appointment"
    ]
    assert appointment["slot"] == [{"reference": "Slot/utc-0930"}]
    assert (appointment["start"], appointment["end"]) == (
        "2026-01-01T01:00:00Z",
        "2026-01-01T01:15:00Z",
    )


async def test_a_wrap_up_refused_whole_for_a_resource_held_twice_is_journaled_for_a_person(
    rt: Runtime, stub: StubControl
) -> None:
    """A plain server whose conditional creates raced (no unique index) holds the Patient of the
    wrap-up twice, and answers its conditional create 412: the transaction fails whole, so the
    handler's notes were stored nowhere. Not a delivery: kept, failed, for a person."""
    stub.server("plain")
    wrap_up = case("MMMMM-00001").model_copy(
        update={"request": Request.WRAP_UP, "handler_notes": "seen, advised rest"}
    )
    [patient] = [e for e in bundle_json(wrap_up)["entry"] if e["request"]["url"] == "Patient"]
    del patient["request"]["ifNoneExist"]
    held_twice = {"resourceType": "Bundle", "type": "transaction", "entry": [patient]}
    for _ in range(2):
        assert stub.post_transaction(held_twice).status_code == 200

    assert await send_case_in(rt, wrap_up) == "rejected"

    assert [r["status"] for r in stub.received()][-1] == 412
    assert stub.resources("ServiceRequest") == []  # nothing of the wrap-up was stored
    entry = await Journal(rt.redis).get("MMMMM-00001")
    assert entry is not None
    assert entry.status is EntryStatus.FAILED
    assert entry.notes == "seen, advised rest"
    assert "412 (multiple-matches)" in entry.error
    assert "nothing of it was stored" in entry.error


async def test_a_wrap_up_kept_after_its_correction_never_takes_its_place(
    rt: Runtime, stub: StubControl
) -> None:
    first = case("JJJJJ-00001").model_copy(
        update={"request": Request.WRAP_UP, "handler_notes": "referred to GP"}
    )
    second = case("JJJJJ-00001", CaseKind.AMBULANCE).model_copy(
        update={"request": Request.WRAP_UP, "handler_notes": "chest pain", "wrap_up_number": 2}
    )
    await rt.modes.force(Mode.DEGRADED, "drill", "sam", T0)
    # The correction's job runs first; the first wrap-up's (its worker killed, retried) after.
    assert await send_case_in(rt, second) == "journaled"
    assert await send_case_in(rt, first) == "journaled"

    entry = await Journal(rt.redis).get("JJJJJ-00001")
    assert entry is not None
    assert (entry.kind, entry.notes) == ("ambulance", "chest pain")
    await rt.modes.force(Mode.NORMAL, "back", "sam", T0 + 60)
    await reconcile_in(rt)
    assert [r["case_id"] for r in stub.received()] == ["JJJJJ-00001/wrap-up-2"]
