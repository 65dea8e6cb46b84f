"""The audit log: who did what, when, to what; newest first, filtered by action or person."""

from __future__ import annotations

from starlette.responses import Response

from console.web.pages import Page, View

SHOWN = 200


async def audit_page(page: Page) -> Response:
    action = page.query.get("action", "").strip()[:64]
    actor = page.query.get("actor", "").strip()[:64]
    entries = await page.floor.audit.latest(SHOWN * 5 if actor else SHOWN, action or None)
    if actor:
        entries = [entry for entry in entries if entry.actor == actor][:SHOWN]
    return await page.render(
        "audit.html", title="Audit log", entries=entries, action=action, actor=actor
    )


VIEWS = [View("/console/audit", audit_page)]
