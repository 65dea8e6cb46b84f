"""`lifeline drill outage`: take the clinical stub down, ring the line with a caller of every kind,
bring it back, wait for the replay, and report what happened (the judging: `drill_report`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from config.redis_client import async_client
from config.settings import Settings
from console.tokens import Role, Tokens
from lifeline.drill_report import JOURNALED, Caller, DrillReport, PlacedCall, heard, routed, settled
from routing.models import case_id_for

MAIN_LINE = "+441134960000"
SWITCH_MARGIN_SECONDS = 10.0
MODE_FRESH_SECONDS = 2.0  # every process sees a new mode within this (each caches it briefly)
ROUTING_SECONDS = 120.0  # the IVR at a local run's pace: unanswered questions time out for real
CAPTURE_SECONDS = 30.0
NORMAL_SECONDS = 300.0
REPLAY_SECONDS = 600.0
TOKEN_MARGIN_SECONDS = 600.0  # the drill's token outlives its longest run by this, no more


class DrillError(Exception):
    """The drill cannot run (the local stack is not up); the message says what is missing."""


class NotDegraded(DrillError):
    """The clinical system was down, but the mode did not switch to degraded in time."""


def callers(settings: Settings) -> list[Caller]:
    """One caller of every kind: an emergency, each reason of the menu, one who does not answer
    the screen, one who takes the callback offered in the hold loop, and, where there is a Welsh
    line, a Welsh speaker on it."""
    kinds = [
        Caller("emergency", MAIN_LINE, ("1",), emergency=True),
        Caller("medical", MAIN_LINE, ("2", "1")),
        Caller("mental health", MAIN_LINE, ("2", "2")),
        Caller("dental", MAIN_LINE, ("2", "3")),
        Caller("medicines", MAIN_LINE, ("2", "4")),
        Caller("existing case", MAIN_LINE, ("2", "5", "2")),  # and no worse
        Caller("no answer at the screen", MAIN_LINE, ("", "", "")),
        # On hold: yes to the callback offer, then yes to calling back the number they rang from.
        Caller("callback", MAIN_LINE, ("2", "1", "1", "1"), takes_callback=True),
    ]
    for line in settings.welsh_line_numbers[:1]:
        kinds.append(Caller("Welsh line, in Welsh", line, ("1", "2", "1"), welsh=True))
    return kinds


def caller_numbers(count: int) -> list[str]:
    """Fictional mobile numbers, fresh for each drill: a number heard from in the last day is a
    known caller, who is asked other questions than the drill's keys answer."""
    first = random.randrange(100_000 - count)
    return [f"+4477009{n:05d}" for n in range(first, first + count)]


def control_url(settings: Settings, given: str | None) -> str:
    """The clinical stub's control API: given, or beside its FHIR port (port + 1)."""
    if given:
        return given.rstrip("/")
    parts = urlsplit(settings.fhir_base_url)
    return f"{parts.scheme}://{parts.hostname}:{(parts.port or 80) + 1}"


@contextlib.asynccontextmanager
async def supervisor_token(settings: Settings, minutes: float) -> AsyncIterator[str]:
    """A supervisor's API token for the drill's own requests, revoked when it ends, and made to
    expire a little after the longest the drill can run: a drill killed before it could revoke
    its token leaves nothing that opens the API for long."""
    client = async_client(settings.redis)
    lifetime_days = (longest_drill(settings, minutes) + TOKEN_MARGIN_SECONDS) / 86400
    try:
        token_id, token = await Tokens(client).create(
            "outage drill", Role.SUPERVISOR, time.time(), lifetime_days=lifetime_days
        )
        try:
            yield token
        finally:
            await Tokens(client).revoke(token_id)
    finally:
        await client.aclose()


def switch_timeout(settings: Settings) -> float:
    """How long the drill gives the probes to notice the outage: twice the failed probes it
    takes to degrade, and a margin for the scheduler."""
    probes = settings.clinical_failures_to_degrade * settings.clinical_probe_interval_seconds
    return 2.0 * probes + SWITCH_MARGIN_SECONDS


def longest_drill(settings: Settings, minutes: float) -> float:
    """The longest a drill with an outage of `minutes` can run, in seconds: the outage, and
    every wait for what follows it waited out in full."""
    waits = ROUTING_SECONDS + CAPTURE_SECONDS + NORMAL_SECONDS + REPLAY_SECONDS
    return 60 * minutes + switch_timeout(settings) + waits


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


@dataclass
class Drill:
    """The drill's view of the local stack: Lifeline's API, the phone network, the clinical stub."""

    settings: Settings
    api: httpx.AsyncClient
    phone: httpx.AsyncClient
    stub: httpx.AsyncClient

    async def check_up(self) -> None:
        try:
            await self.api.get("/readyz")
            await self.phone.get("/sim/health")
            await self.stub.get("/control/health")
        except httpx.TransportError as error:
            raise DrillError(f"the local stack is not up ({error}); start it: make run") from None

    async def clinical(self, mode: str) -> None:
        (await self.stub.put("/control/fault", json={"mode": mode})).raise_for_status()

    async def mode_is(self, wanted: str) -> bool:
        return bool((await self.api.get("/api/v1/mode")).json()["state"]["mode"] == wanted)

    async def switch_to_degraded(self, started: float) -> float:
        """Seconds from the outage to degraded mode; NotDegraded when it does not come."""
        within = switch_timeout(self.settings)
        if not await wait_for(lambda: self.mode_is("degraded"), within):
            raise NotDegraded(
                f"the mode did not switch to degraded within {within:g} s of the clinical "
                "system going down (is `lifeline cron` running? it probes the system)"
            )
        switched = time.monotonic() - started
        await asyncio.sleep(MODE_FRESH_SECONDS)
        return switched

    async def place(self, caller: Caller, number: str) -> PlacedCall:
        handlers = (await self.api.get("/api/v1/handlers")).json()
        free = any(handler["state"] == "available" for handler in handlers)
        body = {"from": number, "to": caller.line, "inputs": list(caller.keys)}
        response = await self.phone.post("/sim/calls", json=body | {"press_after_prompts": True})
        response.raise_for_status()
        return PlacedCall(caller, str(response.json()["sid"]), handler_free=free)

    async def detail(self, sid: str) -> dict[str, Any]:
        detail: dict[str, Any] = (await self.phone.get(f"/sim/calls/{sid}")).json()
        return detail

    async def ring(self, kinds: list[Caller]) -> list[PlacedCall]:
        """Place a call of each kind, wait until each is routed (or the time is up), note how."""
        calls = []
        for kind, number in zip(kinds, caller_numbers(len(kinds)), strict=True):
            calls.append(await self.place(kind, number))
        await wait_for(lambda: self.all_settled(calls), ROUTING_SECONDS)
        await self.observe(calls)
        return calls

    async def all_settled(self, calls: list[PlacedCall]) -> bool:
        return all([settled(call.caller, await self.detail(call.sid)) for call in calls])

    async def observe(self, calls: list[PlacedCall]) -> None:
        booked = {row["callback"]["call_sid"] for row in await self.callbacks()}
        message = (await self.api.get("/api/v1/mode")).json()["message"]
        dispatch = self.settings.ambulance_dispatch_number
        for call in calls:
            events = (await self.detail(call.sid))["events"]
            call.routed = routed(events, dispatch, call.sid in booked)
            call.heard_message = heard(events, message["cy" if call.caller.welsh else "en"])
            call.errors = sum(1 for event in events if event["type"] == "error")

    async def callbacks(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self.api.get("/api/v1/callbacks")).json()
        return rows

    async def wrap_up(self, sids: set[str]) -> set[str]:
        """Handlers who took drill calls refer them on, as the journal's wrap-up entries."""
        wrapped = set()
        for handler in (await self.api.get("/api/v1/handlers")).json():
            if handler["state"] != "wrap_up" or handler["call"] not in sids:
                continue
            response = await self.api.post(
                f"/api/v1/handlers/{handler['profile']['id']}/wrap-up",
                json={"outcome": "referred", "notes": "outage drill", "available": True},
            )
            if response.status_code == 200:
                wrapped.add(handler["call"])
        return wrapped

    async def wrap_up_until(self, until: float, sids: set[str]) -> set[str]:
        wrapped = await self.wrap_up(sids)
        while time.monotonic() < until:
            await asyncio.sleep(min(1.0, until - time.monotonic()))
            wrapped |= await self.wrap_up(sids)
        return wrapped

    async def journal_entries(self, calls: list[PlacedCall]) -> list[dict[str, Any]]:
        entries = []
        for call in calls:
            response = await self.api.get(f"/api/v1/journal/{call.case_id}")
            if response.status_code == 200:
                entries.append(response.json())
        return entries

    async def progress(self) -> dict[str, Any]:
        progress: dict[str, Any] = (await self.api.get("/api/v1/journal/progress")).json()
        return progress

    async def replayed(self) -> bool:
        progress = await self.progress()
        return bool(progress["pending"] == 0 and not progress["running"])

    async def tidy_up(self, calls: list[PlacedCall]) -> None:
        """Hang up the drill's calls still on the line and cancel the callbacks it booked."""
        sids = {call.sid for call in calls}
        for sid in sids:
            await self.phone.post(f"/sim/calls/{sid}/hangup")  # 409 if it has ended
        for row in await self.callbacks():
            callback = row["callback"]
            if callback["call_sid"] in sids and callback["status"] in ("pending", "scheduled"):
                await self.api.post(
                    f"/api/v1/callbacks/{callback['id']}/cancel", json={"reason": "outage drill"}
                )


def tell(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


async def run_drill(
    settings: Settings, minutes: float, out: TextIO, clinical_control: str | None = None
) -> DrillReport:
    base = str(settings.public_base_url).rstrip("/")
    async with (
        supervisor_token(settings, minutes) as token,
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            trust_env=False,
        ) as api,
        httpx.AsyncClient(base_url=settings.api_base_url, timeout=10, trust_env=False) as phone,
        httpx.AsyncClient(
            base_url=control_url(settings, clinical_control), timeout=10, trust_env=False
        ) as stub,
    ):
        drill = Drill(settings, api, phone, stub)
        await drill.check_up()
        report = DrillReport(asked_seconds=minutes * 60)
        try:
            back = await outage(drill, report, out)
            await recovery(drill, report, out, back)
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await drill.clinical("up")  # whatever happened, the system is not left down
            with contextlib.suppress(httpx.HTTPError):
                await drill.tidy_up(report.calls)
    return report


async def outage(drill: Drill, report: DrillReport, out: TextIO) -> float:
    """Down; degraded; a call of every kind routed; wrap-ups and captures until it is over.
    Returns when the system came back (monotonic)."""
    tell(out, f"Taking the clinical system down for {report.asked_seconds:g} s...")
    await drill.clinical("down")
    started = time.monotonic()
    report.degraded_after = await drill.switch_to_degraded(started)
    tell(out, f"Degraded after {report.degraded_after:.1f} s; ringing the line...")
    report.calls = await drill.ring(callers(drill.settings))
    sids = {call.sid for call in report.calls}
    wrapped = await drill.wrap_up_until(started + report.asked_seconds, sids)
    report.wrap_ups = len(wrapped)
    expected = {call.sid for call in report.calls if call.routed in JOURNALED} | wrapped
    expected_cases = {case_id_for(sid) for sid in expected}

    async def captured() -> bool:
        entries = await drill.journal_entries(report.calls)
        return expected_cases <= {entry["case_id"] for entry in entries}

    await wait_for(captured, CAPTURE_SECONDS)
    tell(out, "Bringing the clinical system back...")
    await drill.clinical("up")
    back = time.monotonic()
    report.outage_lasted = back - started
    return back


async def recovery(drill: Drill, report: DrillReport, out: TextIO, back: float) -> None:
    """Back to normal, and the journal replayed."""
    if await wait_for(lambda: drill.mode_is("normal"), NORMAL_SECONDS):
        report.normal_after = time.monotonic() - back
        normal_at = time.monotonic()
        tell(out, f"Normal after {report.normal_after:.1f} s; replaying...")
        if await wait_for(drill.replayed, REPLAY_SECONDS):
            report.replayed_after = time.monotonic() - normal_at
    report.entries = await drill.journal_entries(report.calls)
    report.journal = await drill.progress()
