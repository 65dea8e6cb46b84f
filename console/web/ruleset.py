"""Rules: the active rule set, an editor that shows each problem at its line, the diff against
the active version, dry runs, activation and roll-back, and the history with authors."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from starlette.responses import Response

from console.convertors import VERSION
from console.dry_run import CallDescription, decide
from console.web.forms import FormErrors, parse, present
from console.web.pages import Page, View
from console.web.positions import Located, locate
from prompts.catalogue import Locale
from routing.activation import ActivationRefused, activate_rule_set
from routing.models import Reason, Screen, Worse
from routing.rulebook import Version, diff
from routing.rules import RuleSetError

LONDON = ZoneInfo("Europe/London")
CONTEXT_LINES = 3  # shown above and below each problem
NEEDS_SECOND_FACTOR = (
    "activating a rule set needs a second factor. Sign out, and sign in again with the code "
    "from your authenticator app."
)


class Draft(BaseModel):
    document: Annotated[str, Field(min_length=1, max_length=200_000)]
    comment: Annotated[str, Field(max_length=500)] = ""
    action: Literal["check", "save"] = "check"


class Activation(BaseModel):
    reason: Annotated[str, Field(max_length=500)] = ""


class DryRunForm(CallDescription):
    at: datetime | None = None  # local time on the floor (Europe/London); empty: now
    version: int | None = None

    def moment(self, now: float) -> float:
        if self.at is None:
            return now
        local = self.at if self.at.tzinfo else self.at.replace(tzinfo=LONDON)
        return local.timestamp()


class DiffLine(BaseModel):
    kind: str  # add, remove, hunk, file, same
    text: str


class Listing(BaseModel):
    number: int
    text: str
    problems: list[str]
    gap_before: bool = False  # lines left out above this one


def diff_lines(text: str) -> list[DiffLine]:
    lines = []
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        else:
            kind = "same"
        lines.append(DiffLine(kind=kind, text=line))
    return lines


def listing(document: str, problems: list[Located], around: int | None = None) -> list[Listing]:
    """The document by line, each problem at its line; with `around`, only the lines that near
    a problem."""
    at: dict[int, list[str]] = {}
    for problem in problems:
        if problem.line is not None:
            at.setdefault(problem.line, []).append(problem.message)
    lines = [
        Listing(number=number, text=text, problems=at.get(number, []))
        for number, text in enumerate(document.splitlines(), start=1)
    ]
    if around is None:
        return lines
    excerpt, previous = [], 0
    for line in lines:
        if any(abs(line.number - number) <= around for number in at):
            excerpt.append(line.model_copy(update={"gap_before": line.number != previous + 1}))
            previous = line.number
    return excerpt


async def active_version(page: Page) -> Version | None:
    number = await page.floor.rulebook.active_number()
    return await page.floor.rulebook.get(number) if number is not None else None


async def activations(page: Page) -> list[dict[str, Any]]:
    entries = await page.floor.audit.latest(50, "rules.activate")
    return [
        {
            "at": entry.at,
            "actor": entry.actor,
            "version": entry.target,
            "previous": entry.detail.get("previous"),
            "reason": entry.detail.get("reason", ""),
        }
        for entry in entries
    ]


async def overview(page: Page) -> Response:
    active = await active_version(page)
    history = await activations(page)
    previous = next((row["previous"] for row in history if row["previous"] is not None), None)
    return await page.render(
        "rules.html",
        title="Rules",
        active=active,
        lines=listing(active.document, []) if active else [],
        versions=list(reversed(await page.floor.rulebook.versions())),
        activations=history,
        rollback_to=previous if active and previous != active.number else None,
    )


async def editor(
    page: Page,
    document: str,
    comment: str = "",
    problems: list[Located] | None = None,
    changes: list[DiffLine] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    active = await active_version(page)
    return await page.render(
        "rules_edit.html",
        status,
        title="Edit the rules",
        document=document,
        comment=comment,
        problems=problems or [],
        lines=listing(document, problems, around=CONTEXT_LINES) if problems else [],
        changes=changes,
        active=active,
        errors=errors or {},
    )


async def edit(page: Page) -> Response:
    source = page.query.get("from", "")
    version: Version | None = (
        await page.floor.rulebook.get(int(source))
        if source.isdigit()
        else await active_version(page)
    )
    return await editor(page, version.document if version else "")


async def check(page: Page) -> Response:
    draft, errors = parse(Draft, page.form)
    if draft is None:
        return await editor(
            page,
            page.form.get("document", ""),
            page.form.get("comment", ""),
            errors=errors,
            status=422,
        )
    rulebook = page.floor.rulebook
    try:
        rules = await rulebook.check(draft.document)
    except RuleSetError as error:
        problems = await rulebook.run(partial(locate, draft.document, error.problems))
        return await editor(page, draft.document, draft.comment, problems=problems, status=422)
    active = await active_version(page)
    if draft.action == "check":
        changes = await rulebook.run(
            partial(
                diff,
                active.rules if active else None,
                rules,
                f"version {active.number} (active)" if active else "none",
                "your edit",
            )
        )
        return await editor(page, draft.document, draft.comment, changes=diff_lines(changes))
    created = await rulebook.store(rules, page.user.username, page.now, draft.comment)
    return await page.done(
        f"Version {created.number} saved. Check its changes, then activate it.",
        f"/console/rules/versions/{created.number}",
    )


async def version(page: Page) -> Response:
    number = int(page.request.path_params["number"])
    shown = await page.floor.rulebook.get(number)
    active = await active_version(page)
    changes = await page.floor.rulebook.run(
        partial(
            diff,
            active.rules if active else None,
            shown.rules,
            f"version {active.number} (active)" if active else "none",
            f"version {number}",
        )
    )
    return await page.render(
        "rules_version.html",
        title=f"Rule set version {number}",
        version=shown,
        active=active,
        changes=diff_lines(changes),
        lines=listing(shown.document, []),
    )


async def activate(page: Page) -> Response:
    number = int(page.request.path_params["number"])
    floor = page.floor
    shown = await floor.rulebook.get(number)  # an unknown one is a 404, before anything changes
    form, errors = parse(Activation, page.form)
    if form is None:
        return await page.done(
            f"Not activated: {'; '.join(errors.values())}", f"/console/rules/versions/{number}"
        )
    if shown.active:
        return await page.done(f"Version {number} is already active.", "/console/rules")
    if not page.session.second_factor:  # a session from before second factors, or without one
        return await page.done(
            f"Not activated: {NEEDS_SECOND_FACTOR}", f"/console/rules/versions/{number}"
        )
    by = page.user.username
    credential = {"via": "console", "token": "", "account": by, "second_factor": True}
    try:
        activated = await activate_rule_set(floor, shown, by, form.reason, credential)
    except (ActivationRefused, RuleSetError) as refused:
        return await page.done(
            f"Not activated: {'; '.join(refused.problems)}", f"/console/rules/versions/{number}"
        )
    moved = activated.moved
    calls = "1 waiting call" if moved == 1 else f"{moved} waiting calls"
    return await page.done(f"Version {number} is active. {calls} placed again.", "/console/rules")


async def dry_run(page: Page) -> Response:
    versions = list(reversed(await page.floor.rulebook.versions()))
    asked = bool(page.query)
    form, errors = parse(DryRunForm, present(page.query)) if asked else (DryRunForm(), {})
    result = None
    if form is not None and asked:
        _, result = await decide(
            page.floor.rulebook, page.floor.queues, form.version, form, form.moment(page.now)
        )
    return await page.render(
        "rules_dry_run.html",
        422 if errors else 200,
        title="Dry-run a call",
        form=form or DryRunForm(),
        asked=page.query,
        errors=errors,
        result=result,
        versions=versions,
        locales=list(Locale),
        screens=list(Screen),
        reasons=list(Reason),
        worse_answers=list(Worse),
    )


VIEWS = [
    View("/console/rules", overview),
    View("/console/rules/edit", edit),
    View("/console/rules/edit", check, method="POST"),
    View("/console/rules/dry-run", dry_run),
    View(f"/console/rules/versions/{VERSION}", version),
    View(f"/console/rules/versions/{VERSION}/activate", activate, method="POST"),
]
