"""A supervisor, in Chromium, finds a call's recording by its case id and plays it: against the
running stack (web, worker and the simulated phone network as processes), the call put through
to a handler and recorded by the simulated Twilio, its audio streamed through Lifeline."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from console.tokens import Role
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import add_user
from tests.console.web.test_browser import sign_in
from tests.e2e.stack import Stack

TALK_SECONDS = 4  # simulated: the recording's audio is as long, up to the sim's 5 s


def recordings(stack: Stack) -> list[dict[str, Any]]:
    response = stack.api.get("/api/v1/recordings")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def a_recorded_conversation(stack: Stack) -> None:
    sid = stack.sim.call(["2", "1"])
    stack.sim.wait_ended(sid)


def test_a_supervisor_finds_a_recording_by_case_and_plays_it(
    stack: Stack, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "sue", Role.SUPERVISOR)
    stack.handler("h1")
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=TALK_SECONDS)
    for _ in range(2):
        a_recorded_conversation(stack)
        stack.state("h1", "available")  # after the wrap-up, for the next caller
    stack.wait_for(lambda: len(recordings(stack)) == 2, "both recordings to be kept")
    wanted, other = recordings(stack)
    assert wanted["case_id"] != other["case_id"]

    def scenario(page: Page) -> tuple[dict[str, Any], list[str]]:
        sign_in(page, "sue", stack.redis_url)
        page.get_by_role("link", name="Recordings", exact=True).click()
        page.get_by_label("Case id").fill(wanted["case_id"])
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#found")).to_have_text("1 recording matches, newest first.")
        expect(page.locator(f"#recording-{other['sid']}")).to_have_count(0)
        player = page.locator(f"#recording-{wanted['sid']} audio")
        expect(player).to_have_attribute("src", f"/console/recordings/{wanted['sid']}/audio")
        problems = a11y.problems(page)

        player.evaluate("audio => { audio.muted = true; return audio.play(); }")
        page.wait_for_function("audio => audio.currentTime > 0.3", arg=player.element_handle())
        shoot(page, "recordings-playing")
        heard: dict[str, Any] = player.evaluate(
            """audio => ({
                ready: audio.readyState,
                duration: audio.duration,
                error: audio.error ? audio.error.code : null,
                playing: !audio.paused,
                at: audio.currentTime,
            })"""
        )
        return heard, problems

    heard, problems = browser.visit(stack.web_url, scenario, "recordings")

    assert problems == []
    assert heard["error"] is None
    assert heard["ready"] >= 1  # HAVE_METADATA or more
    assert abs(heard["duration"] - min(wanted["duration"], 5)) < 1.0
    assert heard["at"] > 0.3
    audit = stack.api.get("/api/v1/audit?action=recording.played").json()
    assert [(e["actor"], e["target"]) for e in audit] == [("sue", wanted["sid"])]  # once
    assert audit[0]["detail"]["case_id"] == wanted["case_id"]
