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
from console.endpoints import ApiRequest
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


async def get_mode(api: ApiRequest) -> ModeView:
    modes = api.floor.modes
    return ModeView(
        state=await modes.read(), message=await modes.message(), history=await modes.history()
    )


async def set_mode(api: ApiRequest) -> ModeView:
    console = api.console
    body: ModeChange = api.body
    wanted = None if body.mode == "auto" else Mode(body.mode)
    effective, changed = await console.floor.modes.force(
        wanted, body.reason, api.principal.name, console.floor.clock.now()
    )
    if changed and effective is Mode.NORMAL:
        await console.jobs.off_loop(
            console.jobs.reconcile
        )  # the journal goes to the clinical system
    return await get_mode(api)


async def set_message(api: ApiRequest) -> ModeView:
    body: OutageMessage = api.body
    await api.floor.modes.set_message(body, api.principal.name, api.floor.clock.now())
    return await get_mode(api)


async def clinical_health(api: ApiRequest) -> list[HealthEvent]:
    return [
        HealthEvent(
            at=float(row.get("at", 0)),
            outcome=row.get("outcome", ""),
            source=row.get("source", ""),
            detail=row.get("detail", ""),
        )
        for row in await api.console.breaker.history()
    ]


def wanted_status(api: ApiRequest) -> EntryStatus | None:
    status = api.query.get("status")
    if status is None:
        return None
    try:
        return EntryStatus(status)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(EntryStatus)}") from None


async def journal(api: ApiRequest) -> list[EntrySummary]:
    entries = await api.console.journal.entries(wanted_status(api))
    return [summary(entry) for entry in entries]


async def journal_entry(api: ApiRequest) -> EntrySummary:
    entry = await api.console.journal.get(str(api.path["case_id"]))
    if entry is None:
        raise NotFound(f"no journal entry for case {api.path['case_id']!r}")
    return summary(entry)


async def journal_progress(api: ApiRequest) -> Progress:
    return await api.console.journal.progress()


async def journal_report(api: ApiRequest) -> Response:
    """Every entry and its outcome, as JSON or CSV (`?format=csv`)."""
    entries = [summary(entry) for entry in await api.console.journal.entries(count=100_000)]
    if api.query.get("format", "json") != "csv":
        report = Report(progress=await api.console.journal.progress(), entries=entries)
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


async def start_replay(api: ApiRequest) -> Progress:
    console = api.console
    await console.jobs.off_loop(console.jobs.reconcile)
    await console.floor.audit.record(
        api.principal.name, "journal.replay", "journal", console.floor.clock.now()
    )
    return await console.journal.progress()


async def handler_wrap_up(api: ApiRequest) -> WrapUpDone:
    handler_id = own(api)
    body: WrapUp = api.body
    state = await wrap_up(api.console, handler_id, body.outcome, body.notes, body.available)
    return WrapUpDone(handler=handler_id, outcome=body.outcome, state=state)
