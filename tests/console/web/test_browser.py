"""The consoles in Chromium against the running stack (web, worker and the simulated phone
network as processes, on a real Redis): what supervisors and handlers do, by mouse and keyboard,
with accessibility basics checked and screenshots saved under var/screenshots for review."""

from __future__ import annotations

import re

import redis
from playwright.sync_api import Page, expect

from console.tokens import Role
from routing import keys
from routing.rulebook import canonical
from routing.rules import default_rules
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import PASSWORD, add_user, next_code
from tests.e2e.stack import Stack

RULES_EDITOR = "Rule set (YAML)"


def sign_in(page: Page, username: str, redis_url: str) -> None:
    """The password, then the code from the account's authenticator app, each on its page."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    code = page.get_by_label("Code", exact=True)
    code.fill(next_code(redis_url, username))
    code.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_supervisor_fixes_a_rule_mistake_shown_at_its_line_and_activates_it(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR)
    document = canonical(default_rules())
    wrong = document.replace("priority: 1", "priority: 2", 1)
    line = wrong.splitlines().index("  priority: 2") + 1
    fixed = re.sub(r"(- name: dental\n(?:  .*\n)*?  priority: )4", r"\g<1>3", document)

    def scenario(page: Page) -> None:
        sign_in(page, "sue", stack.redis_url)
        page.get_by_role("link", name="Rules", exact=True).click()
        page.get_by_role("link", name="Edit the rules").click()
        editor = page.get_by_label(RULES_EDITOR)
        expect(editor).to_have_value(document)
        editor.fill(wrong)
        page.get_by_role("button", name="Check and show changes").click()

        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(f"Line {line}: routes.0.priority")
        expect(alert).to_contain_text("emergency callers must be priority 1")
        expect(page.locator(f"#line-{line}")).to_have_class("line-problem")
        expect(editor).to_have_value(wrong)  # nothing typed is lost
        assert a11y.focused(page) == "error-summary"  # announced first
        shoot(page, "rules-error")
        page.get_by_role("link", name=f"Line {line}").click()
        assert a11y.focused(page) == "document"
        chosen = page.evaluate(
            "(() => { const t = document.getElementById('document');"
            " return t.value.substring(t.selectionStart, t.selectionEnd); })()"
        )
        assert chosen == "  priority: 2"  # the caret is on the line at fault

        editor.fill(fixed)
        page.get_by_role("button", name="Check and show changes").click()
        expect(page.get_by_text("No problems found.")).to_be_visible()
        expect(page.locator(".diff-add")).to_have_text(["+  priority: 3"])
        shoot(page, "rules-diff")
        page.get_by_label("Comment (what changed and why)").fill("dental callers up a class")
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Rule set version 2")
        shoot(page, "rules-version")
        page.get_by_label("Reason for activating").fill("dental backlog")
        page.get_by_role("button", name="Activate version 2").click()
        expect(page.get_by_text("Version 2 is active.")).to_be_visible()
        expect(page.get_by_role("heading", name="Active: version 2")).to_be_visible()
        shoot(page, "rules")

    browser.visit(stack.web_url, scenario, "rules")
    active = stack.api.get("/api/v1/rules").json()
    assert active["number"] == 2
    assert active["author"] == "sue"
    [activation] = stack.api.get("/api/v1/audit?action=rules.activate").json()
    assert (activation["actor"], activation["detail"]["reason"]) == ("sue", "dental backlog")


def test_a_handler_goes_available_and_a_simulated_call_arrives_with_its_details(
    stack: Stack, browser: BrowserThread, sync_redis: redis.Redis
) -> None:
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=600)

    def scenario(page: Page) -> str:
        sign_in(page, "hana", stack.redis_url)
        expect(page.locator("#state")).to_have_text("Offline")
        expect(page.get_by_text("Phone: simulated network")).to_be_visible()
        a11y.tab_to(page, "go-available")  # by keyboard
        assert a11y.focus_is_visible(page)
        page.keyboard.press("Enter")
        expect(page.locator("#state")).to_have_text("Available")
        notice = page.get_by_role("status").filter(has_text="You are available for calls.")
        expect(notice).to_be_visible()
        shoot(page, "handler-available")

        sid = stack.sim.call(["2", "1"])
        expect(page.locator("#state")).to_have_text("On a call", timeout=15_000)  # live
        expect(page.locator("#case-priority")).to_have_text("3 (standard)")
        expect(page.locator("#case-reason")).to_have_text("A medical problem")
        expect(page.locator("#case-language")).to_have_text("English")
        expect(page.locator("#case-repeat")).to_have_text("No")
        expect(page.locator("#case-waited")).to_have_text(re.compile(r"^\d+ s$"))
        expect(notice).to_have_count(0)  # "available" is stale once a call is on
        shoot(page, "handler-call")

        stack.sim.hang_up(sid)
        outcome = page.get_by_role("group", name="Outcome")
        expect(outcome).to_be_visible(timeout=15_000)
        expect(page.locator("#state")).to_have_text("Wrapping up")
        page.get_by_label("Advice given").check()
        page.get_by_label("Notes", exact=True).fill("Self-care advice; call back if worse")
        shoot(page, "handler-wrap-up")
        page.get_by_role("button", name="Finish wrap-up and go available").click()
        expect(page.get_by_text("Wrap-up recorded (advice given).")).to_be_visible()
        expect(page.locator("#state")).to_have_text("Available")
        assert a11y.problems(page) == []
        return sid

    sid = browser.visit(stack.web_url, scenario, "handler")
    record = sync_redis.hgetall(keys.call(sid))
    assert record["wrap_up_outcome"] == "advice_given"
    assert record["wrap_up_by"] == "h1"
    assert sync_redis.zscore(keys.HEARTBEATS, "h1") is not None


def test_a_supervisor_forces_degraded_mode_and_the_open_wallboard_shows_it(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR)
    stack.sim.call(["2", "1"])  # nobody on duty: a caller waits

    def scenario(page: Page) -> None:
        sign_in(page, "sue", stack.redis_url)
        banner = page.locator("#mode")
        expect(banner).to_contain_text("Mode: normal")
        expect(page.locator("#summary")).to_contain_text("1 waiting", timeout=15_000)
        shoot(page, "wallboard")

        other = page.context.new_page()  # a second tab: the wallboard stays open in the first
        other.goto("/console/mode")
        other.get_by_label("Force degraded: treat the clinical system as down").check()
        other.get_by_label("Reason (kept in the audit log)").fill("clinical system down: drill")
        other.get_by_role("button", name="Set the mode").click()
        expect(
            other.get_by_text("The mode is forced degraded; it is now degraded.")
        ).to_be_visible()
        shoot(other, "mode")

        expect(banner).to_contain_text("Mode: degraded", timeout=10_000)  # live, no reload
        expect(banner).to_contain_text("clinical system down: drill")
        expect(banner).to_contain_text("Forced by sue")
        assert page.url.endswith("/console/wallboard")
        shoot(page, "wallboard-degraded")

    browser.visit(stack.web_url, scenario, "degraded")
    assert stack.mode() == "degraded"
    [forced] = stack.api.get("/api/v1/audit?action=mode.set").json()
    assert (forced["actor"], forced["target"]) == ("sue", "degraded")


def test_an_emergency_caller_waiting_appears_on_the_open_wallboard_at_once(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR)
    rules = default_rules().model_dump(mode="json")
    rules["emergency"].update(handler_limit_seconds=120, wait_for_wrap_up_seconds=120)
    version = stack.api.post("/api/v1/rules/versions", json={"rules": rules}).json()["number"]
    stack.api.post(f"/api/v1/rules/versions/{version}/activate", json={})
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=1)
    stack.handler("h1")
    first = stack.sim.call(["2", "1"])
    stack.sim.wait_ended(first)
    stack.wait_for(lambda: stack.handler_now("h1")["state"] == "wrap_up", "h1 to wrap up")

    def scenario(page: Page) -> None:
        sign_in(page, "sue", stack.redis_url)
        banner = page.locator("#emergencies")
        expect(banner).not_to_contain_text("Priority 1")
        stack.sim.call(["1"], caller="+447700900077")  # waits for h1's wrap-up
        expect(banner).to_contain_text("Priority 1 waiting: 1", timeout=10_000)  # live
        expect(banner).to_contain_text("in emergency, waiting")
        shoot(page, "wallboard-emergency")
        stack.state("h1", "available")  # h1 takes it: no longer waiting
        expect(banner).not_to_contain_text("Priority 1 waiting", timeout=10_000)

    browser.visit(stack.web_url, scenario, "emergency")


def test_a_handler_is_refused_supervisor_pages_streams_and_actions(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)

    def scenario(page: Page) -> None:
        sign_in(page, "hana", stack.redis_url)
        assert page.url.endswith("/console/handler")
        expect(page.get_by_role("link", name="Wallboard")).to_have_count(0)
        refused = page.goto("/console/wallboard")
        assert refused is not None
        assert refused.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        shoot(page, "refused")
        token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
        for path in ("/console/rules", "/console/mode", "/console/events/wallboard"):
            assert page.request.get(path).status == 403, path
        forced = page.request.post(
            "/console/mode",
            form={"mode": "degraded", "reason": "handler trying", "csrf_token": token},
        )
        assert forced.status == 403

    browser.visit(stack.web_url, scenario, "refused")
    assert stack.mode() == "normal"


def test_the_main_pages_pass_accessibility_basics(stack: Stack, browser: BrowserThread) -> None:
    add_user(stack.redis_url, "ada", Role.ADMIN)
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)
    stack.sim.call(["2", "3"])  # a dental caller waits

    pages = {
        "wallboard": "/console/wallboard",
        "handlers": "/console/handlers",
        "callbacks": "/console/callbacks",
        "rules-overview": "/console/rules",
        "rules-edit": "/console/rules/edit",
        "dry-run": "/console/rules/dry-run?screen=emergency",
        "mode-page": "/console/mode",
        "journal": "/console/journal",
        "journal-report": "/console/journal/report",
        "audit": "/console/audit",
        "accounts": "/console/accounts",
    }

    def supervisor(page: Page) -> list[str]:
        page.goto("/login")
        found = a11y.problems(page)
        shoot(page, "login")
        sign_in(page, "ada", stack.redis_url)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert a11y.focus_is_visible(page)
        page.keyboard.press("Enter")
        assert a11y.focused(page) == "main"
        for name, path in pages.items():
            page.goto(path)
            found += a11y.problems(page)
            shoot(page, name)
        page.goto("/console/rules/edit")
        page.get_by_label(RULES_EDITOR).fill("routes: [")
        page.get_by_role("button", name="Check and show changes").click()
        found += a11y.problems(page)
        return found

    def handler(page: Page) -> list[str]:
        sign_in(page, "hana", stack.redis_url)
        page.get_by_role("button", name="Take a break").click()  # no reason: an error shown
        expect(page.get_by_text("choose a reason for the break")).to_be_visible()
        found = a11y.problems(page)
        shoot(page, "handler-error")
        return found

    found = browser.visit(stack.web_url, supervisor, "accessibility")
    found += browser.visit(stack.web_url, handler, "accessibility-handler")
    assert found == []


def test_the_contrast_and_label_checks_catch_what_they_should(browser: BrowserThread) -> None:
    def scenario(page: Page) -> list[str]:
        page.set_content(
            "<html><head><title>t</title></head><body>"
            "<main id='main'><h1>Faint</h1><p style='color:#999;background:#fff'>grey on white</p>"
            "<input name='nameless'><div onclick='go()'>click me</div><h3>skipped</h3></main>"
            "</body></html>"
        )
        return a11y.problems(page)

    found = " | ".join(browser.visit(None, scenario))
    assert 'contrast 2.85:1 for "grey on white"' in found
    assert "no label for input[nameless]" in found
    assert "something clickable that is not a button or link: div" in found
    assert "a heading jumps from h1 to h3" in found
    assert "no skip link" in found
    assert "the page has no language" in found
