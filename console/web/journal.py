"""The contingency journal: what was captured while the clinical system was down, the
reconciliation's progress, the failures a person must act on, and the report."""

from __future__ import annotations

import csv
import io
from collections import Counter

from starlette.responses import Response

from console.web.pages import Page, View
from console.web.sse import Feed
from routing.journal import EntryStatus, JournalEntry, Progress

SHOWN = 200
REPORT_MAX = 100_000


def settled(progress: Progress) -> int:
    return progress.delivered + progress.duplicate


def status_of(page: Page) -> EntryStatus | None:
    try:
        return EntryStatus(page.query["status"]) if page.query.get("status") else None
    except ValueError:
        return None


async def progress_region(page: Page) -> dict[str, str]:
    progress = await page.console.journal.progress()
    return {
        "progress": page.fragment(
            "_journal_progress.html", progress=progress, settled=settled(progress)
        )
    }


async def journal_page(page: Page) -> Response:
    journal = page.console.journal
    progress = await journal.progress()
    wanted = status_of(page)
    return await page.render(
        "journal.html",
        title="Contingency journal",
        progress=progress,
        settled=settled(progress),
        failures=await journal.entries(EntryStatus.FAILED, SHOWN),
        entries=await journal.entries(wanted, SHOWN),
        wanted=wanted,
        statuses=list(EntryStatus),
        stream="/console/events/journal",
    )


async def report(page: Page) -> Response:
    journal = page.console.journal
    entries = await journal.entries(count=REPORT_MAX)
    progress = await journal.progress()
    by_kind = Counter((entry.kind, entry.status.value) for entry in entries)
    kinds = sorted({entry.kind for entry in entries})
    waiting = [entry for entry in entries if entry.status is EntryStatus.PENDING]
    return await page.render(
        "journal_report.html",
        title="Contingency journal report",
        progress=progress,
        settled=settled(progress),
        kinds=kinds,
        by_kind=by_kind,
        statuses=list(EntryStatus),
        open_waiting=[entry for entry in waiting if entry.open],
        oldest_waiting=min((entry.captured for entry in waiting), default=None),
        failures=[entry for entry in entries if entry.status is EntryStatus.FAILED],
        total=len(entries),
    )


def csv_row(entry: JournalEntry) -> list[str]:
    return [
        entry.case_id,
        entry.kind,
        repr(entry.captured),
        "yes" if entry.open else "no",
        entry.status.value,
        str(entry.attempts),
        repr(entry.delivered) if entry.delivered else "",
        entry.error,
    ]


async def report_csv(page: Page) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["case_id", "kind", "captured", "open", "status", "attempts", "delivered", "error"]
    )
    for entry in await page.console.journal.entries(count=REPORT_MAX):
        writer.writerow(csv_row(entry))
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="contingency-journal.csv"'},
    )


async def reconcile(page: Page) -> Response:
    job = await page.console.jobs.off_loop(page.console.jobs.reconcile)
    await page.audit("journal.reconcile", "contingency journal", queued=job is not None)
    said = "Reconciliation is queued." if job else "Reconciliation is already queued or running."
    return await page.done(said, "/console/journal")


async def events(page: Page) -> Response:
    async def progress() -> dict[str, str]:
        return await progress_region(page)

    return page.live([Feed(page.mode_region), Feed(progress)])


VIEWS = [
    View("/console/journal", journal_page),
    View("/console/journal/report", report),
    View("/console/journal/report.csv", report_csv),
    View("/console/journal/reconcile", reconcile, method="POST"),
    View("/console/events/journal", events),
]
