"""A supervisor tries a draft rule set on a simulated day before activating it, in Chromium,
against the running stack (the what-if job runs on its worker): the draft, with aging switched
off, and the active version meet the very same callers, and the comparison shows the lower
priority classes worse under the draft, highlighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from console.tokens import Role
from routing.rulebook import canonical
from routing.rules import default_rules
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import add_user
from tests.console.web.test_browser import sign_in
from tests.e2e.stack import BIN, Stack


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path).start()
    # What-ifs have a pool of their own (the stack's worker serves every other queue).
    running.spawn("worker-simulations", str(BIN / "lifeline"), "worker", "--queues", "simulations")
    try:
        yield running
    finally:
        running.stop()


def aging_off() -> str:
    document = yaml.safe_load(canonical(default_rules()))
    document["aging"]["max_steps"] = 0
    return yaml.safe_dump(document, sort_keys=False)


def figure(page: Page, name: str) -> tuple[float, float]:
    """The figure's value under the draft and under the active version, as the page holds them."""
    row = page.locator("table.what-if tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )
    draft = row.locator("td.draft").get_attribute("data-value")
    active = row.locator("td.active").get_attribute("data-value")
    return float(draft or "nan"), float(active or "nan")


def test_a_draft_with_aging_off_shows_its_lower_classes_worse_before_it_goes_live(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR)
    made = stack.api.post(
        "/api/v1/rules/versions", json={"document": aging_off(), "comment": "aging off"}
    )
    assert made.status_code == 201, made.text
    number = made.json()["number"]

    def scenario(page: Page) -> list[str]:
        sign_in(page, "sue", stack.redis_url)
        page.goto(f"/console/rules/versions/{number}")
        form = page.get_by_role("form", name="Try it on a simulated day")
        form.get_by_label("Demand times").fill("3.5")  # a bank-holiday Monday
        form.get_by_label("Hours of the day, from midnight").fill("6")
        found = a11y.problems(page)
        form.get_by_role("button", name=f"Simulate version {number}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            f"What if version {number} were active"
        )
        table = page.get_by_role("table", name=f"Version {number} against the active version")
        expect(table).to_be_visible(timeout=240_000)  # the page looks again until it is done
        found += a11y.problems(page)
        shoot(page, "what-if")
        # The same callers under both; nearly all reach a queue under both (one calling again
        # with a callback still to come keeps it, and whether it is still to come depends on
        # the rules).
        calls = figure(page, "Calls to the line")
        assert calls[0] == calls[1] > 500
        offered = figure(page, "Calls offered")
        assert abs(offered[0] - offered[1]) <= 0.01 * calls[0]
        # Without aging, the lowest class waits far longer and more of it gives up.
        draft_wait, active_wait = figure(page, "Priority 4: longest wait")
        assert draft_wait > active_wait
        draft_gone, active_gone = figure(page, "Priority 4: abandoned")
        assert draft_gone > active_gone
        row = page.locator("table.what-if tr").filter(
            has=page.get_by_role("rowheader", name="Priority 4: longest wait", exact=True)
        )
        expect(row.locator("td.worse")).to_contain_text("worse")
        # Priority 1 is untouched by aging: every emergency reached in time under both.
        draft_p1, active_p1 = figure(page, "Priority 1: longest to a handler or dispatch")
        assert draft_p1 <= 30
        assert active_p1 <= 30
        return found

    assert browser.visit(stack.console_url, scenario, "what-if") == []
    [asked] = stack.api.get("/api/v1/audit?action=rules.simulate").json()
    assert asked["actor"] == "sue"
