"""Jobs that talk to the clinical system (and only jobs do): sending a case and probing its
health; the contingency journal's replay is in `workers.replay`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
from rq import get_current_job

from routing.bookings import BookingStatus, unconfirmed
from routing.breaker import Outcome
from routing.cases import BookedSlot, CaseKind, ClinicalCase, Request
from workers import email
from workers.clinical import ClinicalRejected, ClinicalSystem, ClinicalUnavailable
from workers.fhir import bundle_json
from workers.runtime import Runtime, enqueuing, runtime

log = logging.getLogger(__name__)

OPEN_KINDS = frozenset({CaseKind.AMBULANCE})  # replayed first, with pending callbacks


def facts_of(case: ClinicalCase) -> dict[str, object]:
    """What a person reading the journal needs, without the phone number (it is in the bundle)."""
    facts: dict[str, object] = {
        "kind": case.kind.value,
        "priority": int(case.priority),
        "reason": case.reason.value,
        "locale": case.locale.value,
        "created": case.created.isoformat(),
        "number_ending": case.caller_number[-3:] if case.caller_number else "",
        "request": case.request.value,
    }
    if case.wrap_up_number > 1:
        facts["wrap_up_number"] = case.wrap_up_number
    if case.appointment is not None:
        facts["appointment_slot"] = case.appointment.slot
        facts["appointment_start"] = case.appointment.start.isoformat()
        facts["appointment_end"] = case.appointment.end.isoformat()
    return facts


async def capture(rt: Runtime, case: ClinicalCase, open_case: bool) -> bool:
    """Into the contingency journal (and by e-mail, where configured). Never raises for e-mail."""
    kept = case.model_copy(update={"contingency": True})
    fresh = await rt.journal.capture(
        kept.case_id,
        kept.kind.value,
        bundle_json(kept),
        facts_of(kept),
        rt.clock.now(),
        open_case=open_case or kept.kind in OPEN_KINDS,
        notes=kept.handler_notes,
    )
    if fresh and email.configured(rt.settings):
        try:
            await email.send_contingency(rt.settings, kept.case_id, *contingency_mail(kept))
        except email.NotSent as error:
            # The journal holds the record; the courtesy copy is tried again, by a job.
            log.warning("contingency e-mail not sent: %s", error, extra={"case_id": case.case_id})
            async with enqueuing(rt) as jobs:
                await jobs.off_loop(jobs.email_case, kept.case_id)
    return fresh


def contingency_mail(case: ClinicalCase) -> tuple[str, str]:
    """The subject and body of a contingency record's e-mail (the number in full: it goes to
    the receiving service, which must be able to call the patient)."""
    lines = [f"{key}: {value}" for key, value in facts_of(case).items()]
    lines.append(f"telephone: {case.caller_number or 'withheld'}")
    if case.handler_notes:
        lines.append(f"notes: {case.handler_notes}")
    subject = f"Lifeline contingency record {case.case_id} ({case.kind.value})"
    body = "The clinical system is unavailable; this case is held for replay.\n\n"
    return subject, body + "\n".join(lines)


async def email_case(case_id: str) -> str:
    async with runtime() as rt:
        return await email_case_in(rt, case_id)


async def email_case_in(rt: Runtime, case_id: str) -> str:
    """Send a journal entry's e-mail again; raises (so RQ retries) while it cannot be sent."""
    entry = await rt.journal.get(case_id)
    if entry is None:
        return "gone"
    case = case_of(entry.bundle, entry.facts, entry.case_id, entry.kind, entry.notes)
    await email.send_contingency(rt.settings, case_id, *contingency_mail(case))
    return "sent"


async def send_case(case_json: str, open_case: bool = False) -> str:
    async with runtime() as rt:
        return await send_case_in(rt, ClinicalCase.model_validate_json(case_json), open_case)


async def send_case_in(rt: Runtime, case: ClinicalCase, open_case: bool = False) -> str:
    """Send a case to the clinical system, or, degraded or failing, keep it in the journal."""
    mode = await rt.modes.read()
    if mode.degraded:
        await capture(rt, case, open_case)
        return "journaled"
    async with httpx.AsyncClient(trust_env=False) as client:
        system = ClinicalSystem(rt.settings.fhir_base_url, client)
        try:
            delivery = await system.send(case)
        except ClinicalUnavailable as error:
            await rt.breaker.record(Outcome.FAILED, "job", rt.clock.now(), str(error))
            await capture(rt, case, open_case)
            return "journaled"
        except ClinicalRejected as error:
            # Our request is wrong, not their system: keep it, visibly, for a person.
            await capture(rt, case, open_case)
            await rt.journal.outcome(case.case_id, "failed", rt.clock.now(), str(error))
            return "rejected"
    await rt.breaker.record(Outcome.HEALTHY, "job", rt.clock.now())
    return delivery.outcome.value


async def confirm_booking(case_id: str) -> str:
    async with runtime() as rt:
        return await confirm_booking_in(rt, case_id)


CONFIRM_TRIES = 3  # reads of a booking that changed under the look-up before it gives up


async def confirm_booking_in(rt: Runtime, case_id: str) -> str:
    """Settle a booking whose answer never reached the console (lost, or the console gone):
    the case's Appointment looked up in the clinical system, never booked from here (no handler
    is watching), and the booking saved as booked, or its slot released. Raises while the
    clinical system does not answer, so that RQ asks again later. Nothing to do for a booking
    settled meanwhile, or one a handler is sending again now (that one has a job of its own);
    one that changed under the look-up (a handler's page marking it perhaps booked) is read
    again."""
    for _ in range(CONFIRM_TRIES):
        settled = await _confirm(rt, case_id)
        if settled != "changed":
            return settled
    raise RuntimeError(f"booking of case {case_id} kept changing: asked again later")


async def _confirm(rt: Runtime, case_id: str) -> str:
    bookings = rt.bookings
    saved = await bookings.read(case_id)
    slot = saved.chosen_slot()
    if saved.booking is None or slot is None or saved.booking.status is BookingStatus.BOOKED:
        return "settled"
    if saved.in_flight(rt.clock.now()):
        return "in flight"
    booking, version = saved.booking, saved.version
    if booking.status is not BookingStatus.UNCONFIRMED:
        # Its console never settled it: perhaps booked, and said so until the answer comes.
        booking = unconfirmed(booking, slot)
        version = await bookings.settle(booking, version, slot.slot)
        if not version:
            return "changed"
    async with httpx.AsyncClient(trust_env=False) as client:
        slots = await ClinicalSystem(rt.settings.fhir_base_url, client).appointment_slots(case_id)
    if not slots and not await bookings.looked_before(case_id, version):
        # A request still on its way could yet make it: none found twice, a minute apart, and
        # only then is it decided that none was made.
        async with enqueuing(rt) as jobs:
            await jobs.off_loop(jobs.confirm_booking, case_id, f"{version}-again")
        return "checking"
    if slot.slot in slots:
        outcome = booking.model_copy(update={"status": BookingStatus.BOOKED, "message": ""})
    else:
        said = (
            f"Not booked: the clinical system holds an appointment for this case at another time "
            f"({', '.join(slots)}). Check it there before booking again."
            if slots
            else "Not booked: the clinical system has no appointment for this case. Search again."
        )
        outcome = booking.model_copy(
            update={
                "status": BookingStatus.UNAVAILABLE,
                "slots": [],
                "chosen": None,
                "message": said,
            }
        )
    if not await bookings.settle(outcome, version, slot.slot):
        return "changed"
    log.info("unconfirmed booking settled: %s", outcome.status.value, extra={"case_id": case_id})
    return outcome.status.value


async def probe() -> str:
    job = get_current_job()
    queued = job.enqueued_at.timestamp() if job is not None and job.enqueued_at else None
    async with runtime() as rt:
        return await probe_in(rt, queued)


async def probe_in(rt: Runtime, queued: float | None = None) -> str:
    """The periodic health probe (`GET [base]/metadata`); when the mode is back to normal with
    journal entries pending, the replay is started.

    Probes have a queue and a worker of their own, never behind the cases being sent. One that
    still waited longer than the interval (a worker restarting, say) is skipped: late probes
    would pile up, and the breaker would hear about the system later and later."""
    if queued is not None and rt.clock.now() - queued > rt.settings.clinical_probe_interval_seconds:
        return "skipped"
    timeout = rt.settings.clinical_probe_timeout_seconds
    async with httpx.AsyncClient(trust_env=False) as client:
        system = ClinicalSystem(rt.settings.fhir_base_url, client, probe_timeout=timeout)
        result = await system.probe()
    outcome = Outcome.HEALTHY if result.healthy else Outcome.FAILED
    flipped = await rt.breaker.record(outcome, "probe", rt.clock.now(), result.detail)
    if flipped is not None:
        log.warning("clinical system %s: mode now %s", outcome.value, flipped[0].value)
    progress = await rt.journal.progress()
    mode = await rt.modes.read()
    if result.healthy and not mode.degraded and progress.pending and not progress.running:
        async with enqueuing(rt) as jobs:
            await jobs.off_loop(jobs.reconcile)
    return outcome.value


def case_of(
    bundle: dict[str, object], facts: dict[str, object], case_id: str, kind: str, notes: str
) -> ClinicalCase:
    """The case again from what the journal kept (the bundle carries the telephone number)."""
    number = ""
    for entry in bundle.get("entry", []):  # type: ignore[attr-defined]
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            for telecom in resource.get("telecom", []):
                number = telecom.get("value", number)
    appointment = (
        BookedSlot(
            slot=str(facts["appointment_slot"]),
            start=datetime.fromisoformat(str(facts["appointment_start"])),
            end=datetime.fromisoformat(str(facts["appointment_end"])),
        )
        if "appointment_slot" in facts
        else None
    )
    return ClinicalCase(
        case_id=case_id,
        kind=CaseKind(kind),
        created=datetime.fromisoformat(str(facts["created"])).astimezone(UTC),
        caller_number=number,
        locale=str(facts["locale"]),
        reason=str(facts["reason"]),
        priority=int(str(facts["priority"])),
        handler_notes=notes,
        contingency=True,
        appointment=appointment,
        request=Request(str(facts.get("request", Request.OPENED.value))),
        wrap_up_number=int(str(facts.get("wrap_up_number", 1))),
    )
