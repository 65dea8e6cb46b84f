"""API: the mode (normal or degraded, forced or automatic), the outage message, the clinical
system's health, the contingency journal and its reconciliation, and handlers' wrap-up."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from console.api_floor import own
from console.bodies import Body
from console.endpoints import Call
from console.errors import Invalid, NotFound
from console.wrapup import wrap_up
from routing.handlers import HandlerState
from routing.journal import EntryStatus, JournalEntry, Progress
from routing.mode import Mode, ModeState, OutageMessage
from routing.wrapup import WrapUpOutcome


class ModeView(BaseModel):
    state: ModeState
    message: OutageMessage
    history: list[dict[str, str]]


class ModeChange(Body):
    mode: Literal["normal", "degraded", "auto"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class HealthEvent(BaseModel):
    at: float
    outcome: str
    source: str
    detail: str


class EntrySummary(BaseModel):
    """A journal entry without its FHIR bundle (which carries the telephone number)."""

    case_id: str
    kind: str
    captured: float
    open: bool
    status: EntryStatus
    facts: dict[str, object]
    notes: str
    attempts: int
    error: str
    delivered: float | None


class Report(BaseModel):
    progress: Progress
    entries: list[EntrySummary]


class WrapUp(Body):
    """`appointment_booked` only once an appointment is booked for the call's case in the
    handler console: refused with 409 otherwise (and while degraded, with none booked)."""

    outcome: WrapUpOutcome
    notes: Annotated[str, Field(max_length=4000)] = ""
    available: bool = True


class WrapUpDone(BaseModel):
    """`state`: where the handler is now (where they asked to be after the call, if they did)."""

    handler: str
    outcome: WrapUpOutcome
    state: HandlerState


def summary(entry: JournalEntry) -> EntrySummary:
    return EntrySummary.model_validate(entry.model_dump(exclude={"bundle"}))


async def get_mode(call: Call) -> ModeView:
    modes = call.console.modes
    return ModeView(
        state=await modes.read(), message=await modes.message(), history=await modes.history()
    )


async def set_mode(call: Call) -> ModeView:
    console = call.console
    body: ModeChange = call.body
    wanted = None if body.mode == "auto" else Mode(body.mode)
    effective, changed = await console.modes.force(
        wanted, body.reason, call.principal.name, console.clock.now()
    )
    if changed and effective is Mode.NORMAL:
        await console.jobs.off_loop(
            console.jobs.reconcile
        )  # the journal goes to the clinical system
    return await get_mode(call)


async def set_message(call: Call) -> ModeView:
    body: OutageMessage = call.body
    await call.console.modes.set_message(body, call.principal.name, call.console.clock.now())
    return await get_mode(call)


async def clinical_health(call: Call) -> list[HealthEvent]:
    return [
        HealthEvent(
            at=float(row.get("at", 0)),
            outcome=row.get("outcome", ""),
            source=row.get("source", ""),
            detail=row.get("detail", ""),
        )
        for row in await call.console.breaker.history()
    ]


def wanted_status(call: Call) -> EntryStatus | None:
    status = call.query.get("status")
    if status is None:
        return None
    try:
        return EntryStatus(status)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(EntryStatus)}") from None


async def journal(call: Call) -> list[EntrySummary]:
    entries = await call.console.journal.entries(wanted_status(call))
    return [summary(entry) for entry in entries]


async def journal_entry(call: Call) -> EntrySummary:
    entry = await call.console.journal.get(str(call.path["case_id"]))
    if entry is None:
        raise NotFound(f"no journal entry for case {call.path['case_id']!r}")
    return summary(entry)


async def journal_progress(call: Call) -> Progress:
    return await call.console.journal.progress()


async def journal_report(call: Call) -> Response:
    """Every entry and its outcome, as JSON or CSV (`?format=csv`)."""
    entries = [summary(entry) for entry in await call.console.journal.entries(count=100_000)]
    if call.query.get("format", "json") != "csv":
        report = Report(progress=await call.console.journal.progress(), entries=entries)
        return Response(report.model_dump_json(), media_type="application/json")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["case_id", "kind", "captured", "open", "status", "attempts", "delivered", "error"]
    )
    for entry in entries:
        writer.writerow(
            [
                entry.case_id,
                entry.kind,
                entry.captured,
                entry.open,
                entry.status.value,
                entry.attempts,
                entry.delivered or "",
                entry.error,
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="journal-report.csv"'},
    )


async def start_replay(call: Call) -> Progress:
    console = call.console
    await console.jobs.off_loop(console.jobs.reconcile)
    await console.audit.record(
        call.principal.name, "journal.replay", "journal", console.clock.now()
    )
    return await console.journal.progress()


async def handler_wrap_up(call: Call) -> WrapUpDone:
    handler_id = own(call)
    body: WrapUp = call.body
    state = await wrap_up(call.console, handler_id, body.outcome, body.notes, body.available)
    return WrapUpDone(handler=handler_id, outcome=body.outcome, state=state)
