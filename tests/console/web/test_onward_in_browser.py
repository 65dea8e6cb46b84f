"""A handler sends their caller on to a clinician in Chromium, against the running stack: on a
call, the form (its refusal shown on it first) sends the caller to the clinicians' queue with an
urgency and notes; the clinician, signed in on a console of their own, is offered the caller and
sees who sent them on, when, how urgently and why."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from console.tokens import Role
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import add_user
from tests.console.web.test_browser import sign_in
from tests.e2e.stack import Stack

IMMEDIATE = "Immediate (within 20 minutes)"
NOTES = "Rash spreading since noon <on warfarin> & feverish."


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_handler_sends_their_caller_to_a_clinician_who_sees_who_sent_them_and_why(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    add_user(stack.redis_url, "cleo", Role.HANDLER, handler="c1")
    stack.handler("h1", available=False)
    stack.handler("c1", {"clinician": 3}, available=False)
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=600)
    stack.sim.party("client:c1", answer="answer", ring_seconds=3, talk_seconds=600)
    sent_on = re.compile(rf"Sent on by h1 at \d\d:\d\d, {re.escape(IMMEDIATE)}")

    def handler(page: Page) -> list[str]:
        sign_in(page, "hana", stack.redis_url)
        page.get_by_role("button", name="Go available").click()
        expect(page.locator("#state")).to_have_text("Available")
        stack.sim.call(["2", "1"])
        expect(page.locator("#state")).to_have_text("On a call", timeout=15_000)
        form = page.get_by_role("form", name="Send the caller on")
        expect(form).to_be_visible()
        expect(page.get_by_role("form", name="Arrange a clinician callback")).to_be_visible()
        found = a11y.problems(page)

        form.get_by_label("A clinician (the caller keeps their place)").check()
        form.get_by_label("Notes for whoever takes the caller next").fill(NOTES)
        form.get_by_role("button", name="Send the caller on").click()  # no urgency chosen
        summary = page.locator("#error-summary")
        expect(summary).to_contain_text("Choose how soon a clinician must speak to the patient.")
        assert a11y.focused(page) == "error-summary"  # announced first
        found += a11y.problems(page)
        shoot(page, "onward-refused")

        form = page.get_by_role("form", name="Send the caller on")
        expect(form.get_by_label("Notes for whoever takes the caller next")).to_have_value(NOTES)
        form.get_by_label("Urgency, for a clinician").select_option(label=IMMEDIATE)
        form.get_by_role("button", name="Send the caller on").click()
        expect(page.locator("#case-sent-on")).to_contain_text(sent_on)
        expect(page.locator("#state")).to_have_text("Wrapping up", timeout=15_000)
        expect(page.get_by_role("form", name="Send the caller on")).to_have_count(0)
        shoot(page, "onward-sent")
        return found

    def clinician(page: Page) -> list[str]:
        sign_in(page, "cleo", stack.redis_url)
        page.get_by_role("button", name="Go available").click()
        expect(page.locator("#case-sent-on")).to_contain_text(sent_on, timeout=15_000)
        expect(page.locator("#case-sent-on-notes")).to_have_text(NOTES)  # as written, not HTML
        expect(page.locator("#case-reason")).to_have_text("A medical problem")
        shoot(page, "onward-clinician")
        return a11y.problems(page)

    assert browser.visit(stack.web_url, handler, "onward-handler") == []
    assert browser.visit(stack.web_url, clinician, "onward-clinician") == []
    stack.wait_for(lambda: stack.handler_now("c1")["state"] == "busy", "c1 to take the caller")
