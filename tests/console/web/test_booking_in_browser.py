"""A handler books a real slot in Chromium, against the running stack with the clinical stub as a
process of its own: on a call, they find the free appointments, book one, wrap up "appointment
booked", and the clinical system holds one Appointment for that Slot, carried by the wrap-up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from console.tokens import Role
from tests.console.web import a11y
from tests.console.web.browser import BrowserThread, shoot
from tests.console.web.people import add_user
from tests.console.web.test_browser import sign_in
from tests.e2e.stack import Stack
from tests.sim.clinical.stub import StubControl, slot

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(redis_url, tmp_path, with_clinical=True).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def clinical(stack: Stack) -> Iterator[StubControl]:
    control = StubControl(f"http://127.0.0.1:{stack.fhir_port}/fhir", stack.clinical_control_url)
    try:
        yield control
    finally:
        control.close()


def at(start: datetime, end: datetime) -> str:
    """How the console names a slot: its day and times in London."""
    first, last = start.astimezone(LONDON), end.astimezone(LONDON)
    return f"{first:%a} {first.day} {first:%b}, {first:%H:%M} to {last:%H:%M}"


def test_a_handler_on_a_call_books_a_real_slot_and_wraps_up_appointment_booked(
    stack: Stack, clinical: StubControl, browser: BrowserThread
) -> None:
    add_user(stack.redis_url, "hana", Role.HANDLER, handler="h1")
    stack.handler("h1", available=False)
    stack.sim.party("client:h1", answer="answer", ring_seconds=1, talk_seconds=600)
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    times = [
        (soon + timedelta(minutes=30 * n), soon + timedelta(minutes=30 * n + 15)) for n in (0, 1)
    ]
    iso = [(start.isoformat(), end.isoformat()) for start, end in times]
    clinical.set_slots(
        slot("uc-first", "urgent-care", *iso[0]),
        slot("uc-second", "urgent-care", *iso[1]),
        slot("dental-first", "dental", *iso[0]),
    )
    chosen = at(*times[1])

    def scenario(page: Page) -> list[str]:
        sign_in(page, "hana", stack.redis_url)
        page.get_by_role("button", name="Go available").click()
        expect(page.locator("#state")).to_have_text("Available")
        sid = stack.sim.call(["2", "1"])  # a medical problem: an urgent-care appointment
        expect(page.locator("#state")).to_have_text("On a call", timeout=15_000)

        page.get_by_role("button", name="Find free appointments").click()
        offered = page.get_by_role("group", name="Free urgent care appointments, earliest first")
        expect(offered.get_by_role("radio")).to_have_count(2)
        offered.get_by_label(chosen).check()
        shoot(page, "booking-offered")
        page.get_by_role("button", name="Book this appointment").click()
        expect(page.locator("#booking-state")).to_contain_text(f"Booked: {chosen}")
        shoot(page, "booking-booked")

        stack.sim.hang_up(sid)
        outcome = page.get_by_role("group", name="Outcome")
        expect(outcome).to_be_visible(timeout=15_000)
        page.get_by_label(f"Appointment booked ({chosen})").check()
        page.get_by_label("Notes", exact=True).fill(
            "Chest infection; urgent care at the time booked"
        )
        shoot(page, "booking-wrap-up")
        page.get_by_role("button", name="Finish wrap-up and go available").click()
        expect(page.get_by_text("Wrap-up recorded (appointment booked).")).to_be_visible()
        return a11y.problems(page)

    assert browser.visit(stack.web_url, scenario, "booking") == []
    deadline = time.monotonic() + 20
    while not [r for r in clinical.received() if str(r["case_id"]).endswith("/wrap-up")]:
        assert time.monotonic() < deadline, "the wrap-up never reached the clinical system"
        time.sleep(0.1)
    [appointment] = clinical.resources("Appointment")
    assert appointment["slot"] == ["Slot/uc-second"]
    [booked] = [s for s in clinical.slots() if s["id"] == "uc-second"]
    assert (booked["status"], booked["appointment"]) == ("busy", f"Appointment/{appointment['id']}")
    [wrap_up] = [r for r in clinical.received() if str(r["case_id"]).endswith("/wrap-up")]
    assert wrap_up["outcome"] == "created"  # its ServiceRequest, and so it passed the R4 schema
    sent = [e["resource"] for e in wrap_up["bundle"]["entry"]]
    assert [r["slot"] for r in sent if r["resourceType"] == "Appointment"] == [
        [{"reference": "Slot/uc-second"}]
    ]
