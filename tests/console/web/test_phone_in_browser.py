"""The console as the phone, in Chromium: the page loads the Voice SDK from where the settings
say (another origin, which the page's policy must allow), signs it in with Lifeline's token, and
lets the handler answer, mute and hang up by keyboard and mouse.

Twilio's SDK is not available offline, so a stand-in with the same interface
(`voice_sdk_standin.js`) is served at the configured URL; it records what the console does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Page, expect

from console.tokens import Role
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import add_user
from tests.console.web.test_browser import sign_in
from tests.console.web.test_phone import KEY_SECRET, KEY_SID
from tests.e2e.stack import Stack

STAND_IN = Path(__file__).with_name("voice_sdk_standin.js")


@pytest.fixture
def sdk_url() -> Iterator[str]:
    """The stand-in SDK, served by a web server of its own (another origin than Lifeline's)."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(STAND_IN.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{STAND_IN.name}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def phone_stack(redis_url: str, tmp_path: Path, sdk_url: str) -> Iterator[Stack]:
    env = {
        "TWILIO_API_KEY_SID": KEY_SID,
        "TWILIO_API_KEY_SECRET": KEY_SECRET,
        "TWILIO_VOICE_SDK_URL": sdk_url,
    }
    running = Stack(redis_url, tmp_path, env=env).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_handler_answers_mutes_and_hangs_up_on_the_console(
    phone_stack: Stack, browser: BrowserThread
) -> None:
    stack = phone_stack
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)

    def scenario(page: Page) -> str:
        sign_in(page, "hana", stack.redis_url)
        status = page.locator("#phone-status")
        expect(status).to_have_text("Ready: calls ring here.")
        token = str(page.evaluate("window.voice.token"))

        page.evaluate("window.call = window.voice.ring({From: 'client:lifeline'})")
        expect(status).to_have_text("A call is coming through.")
        expect(page.get_by_role("button", name="Answer")).to_be_focused()
        expect(page.get_by_role("button", name="Decline")).to_be_visible()
        shoot(page, "handler-phone-ringing")
        page.keyboard.press("Enter")
        expect(status).to_have_text("On a call.")
        assert page.evaluate("window.call.accepted") is True
        expect(page.get_by_role("button", name="Hang up")).to_be_focused()

        mute = page.locator("#phone-mute")
        mute.click()
        expect(mute).to_have_attribute("aria-pressed", "true")
        expect(mute).to_have_text("Unmute")
        assert page.evaluate("window.call.muted") is True
        assert a11y.problems(page) == []
        page.get_by_role("button", name="Hang up").click()
        expect(status).to_have_text("Ready: calls ring here.")
        assert page.evaluate("window.call.ended") == "hung up"

        page.evaluate("window.declined = window.voice.ring({})")
        page.get_by_role("button", name="Decline").click()
        expect(status).to_have_text("Ready: calls ring here.")
        assert page.evaluate("window.declined.ended") == "rejected"

        page.evaluate("window.voice.emit('tokenWillExpire')")  # signed in again, in place
        for _ in range(100):  # (wait_for_function would need eval, which the policy forbids)
            if page.evaluate("window.voice.updates") == 1:
                break
            page.wait_for_timeout(50)
        assert page.evaluate("window.voice.updates") == 1
        return token

    token = browser.visit(stack.web_url, scenario, "handler-phone")
    claims = jwt.decode(token, KEY_SECRET, algorithms=["HS256"])
    assert claims["grants"]["identity"] == "h1"
    assert claims["grants"]["voice"] == {"incoming": {"allow": True}}
