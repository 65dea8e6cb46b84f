"""The second factor in Chromium against the running stack: a supervisor's first sign-in sets it
up (a QR code drawn on the server, the secret as text, ten recovery codes), and the next sign-in
asks for a code on a page of its own."""

from __future__ import annotations

import pyotp
import redis
from playwright.sync_api import Page, expect

from console.tokens import Role
from routing import keys
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import PASSWORD, add_user
from tests.console.web.test_browser import sign_in
from tests.e2e.stack import Stack


def enter_password(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_supervisor_sets_up_a_second_factor_at_the_first_sign_in_and_keeps_recovery_codes(
    stack: Stack, browser: BrowserThread, sync_redis: redis.Redis
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR, enrol=False)

    def scenario(page: Page) -> list[str]:
        enter_password(page, "sue")
        expect(page.get_by_role("heading", level=1)).to_have_text("Set up your second factor")
        qr = page.get_by_role("img", name="QR code for your authenticator app")
        expect(qr).to_be_visible()
        assert page.locator("svg").count() == 1  # inline, drawn on the server
        secret = page.locator("#secret").inner_text().replace(" ", "")
        found = a11y.problems(page)
        shoot(page, "second-factor-enrol")
        code = page.get_by_label("Code", exact=True)
        code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not right.")
        assert a11y.focused(page) == "error-summary"
        page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
        codes = page.locator("#recovery-codes li").all_inner_texts()
        assert len(set(codes)) == 10
        found += a11y.problems(page)
        shoot(page, "second-factor-recovery-codes")
        page.get_by_role("link", name="Continue to the console").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()

        enter_password(page, "sue")  # again, within the same half minute: a recovery code
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        found += a11y.problems(page)
        shoot(page, "second-factor-code")
        page.get_by_label("Code", exact=True).fill(codes[0])
        page.get_by_label("Code", exact=True).press("Enter")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        return found

    assert browser.visit(stack.web_url, scenario, "second-factor") == []
    assert sync_redis.hget(keys.user("sue"), "totp")
    assert len(sync_redis.hgetall(keys.user_recovery("sue"))) == 9


def test_a_handler_signs_in_with_a_code_from_their_authenticator_app(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)

    def scenario(page: Page) -> None:
        sign_in(page, "hana", stack.redis_url)  # the password, then the code on its own page
        expect(page.locator("#state")).to_have_text("Offline")

    browser.visit(stack.web_url, scenario, "second-factor-handler")
