"""`lifeline drill outage`: rehearse a clinical-system outage against a local run.

It takes the clinical stub down, places simulated calls of every kind through the phone network,
waits for degraded mode, brings the stub back after the outage, waits for the journal to be
replayed, and reports: time to switch each way, calls routed, journal entries, replayed, failed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from console.tokens import Role, Tokens
from lifeline.redis_client import async_client
from lifeline.settings import Settings

MAIN_LINE = "+441134960000"
# (what the caller does, the keys they press); a Welsh line asks for the language first.
CALLS: tuple[tuple[str, str, list[str]], ...] = (
    ("emergency", MAIN_LINE, ["1"]),
    ("medical", MAIN_LINE, ["2", "1"]),
    ("mental health", MAIN_LINE, ["2", "2"]),
    ("dental", MAIN_LINE, ["2", "3"]),
    ("medicines", MAIN_LINE, ["2", "4"]),
    ("no answer at the screen", MAIN_LINE, ["", "", ""]),
)
CALLERS = [f"+4477009{n:05d}" for n in range(10_000, 10_000 + len(CALLS))]


class DrillError(Exception):
    """The drill cannot run (the local stack is not up); the message says what is missing."""


@dataclass
class DrillReport:
    outage_started: float = 0.0
    degraded_after: float | None = None
    normal_after: float | None = None
    replayed_after: float | None = None
    calls: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    journal: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        def seconds(value: float | None) -> str:
            return "not reached" if value is None else f"{value:.1f} s"

        journal = self.journal
        return [
            "Outage drill report",
            f"  time to degraded mode        {seconds(self.degraded_after)}",
            f"  time back to normal          {seconds(self.normal_after)} (after it came back)",
            f"  time to replay the journal   {seconds(self.replayed_after)} (after normal)",
            f"  calls placed                 {sum(self.calls.values())}: "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(self.calls.items())),
            "  calls routed                 "
            + ", ".join(f"{kind} {count}" for kind, count in sorted(self.outcomes.items())),
            f"  journal entries captured     {journal.get('captured', 0)}",
            f"  replayed                     {journal.get('delivered', 0)} delivered, "
            f"{journal.get('duplicate', 0)} already there",
            f"  failed (for a person)        {journal.get('failed', 0)}",
            f"  still pending                {journal.get('pending', 0)}",
        ]


def control_url(settings: Settings, given: str | None) -> str:
    """The clinical stub's control API: given, or beside its FHIR port (port + 1)."""
    if given:
        return given.rstrip("/")
    parts = urlsplit(settings.fhir_base_url)
    return f"{parts.scheme}://{parts.hostname}:{(parts.port or 80) + 1}"


async def supervisor_token(settings: Settings) -> str:
    client = async_client(str(settings.redis_url))
    try:
        return (await Tokens(client).create("outage drill", Role.SUPERVISOR, time.time()))[1]
    finally:
        await client.aclose()


async def wait_for(check: Callable[[], Any], within: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


async def run_drill(
    settings: Settings, minutes: float, out: TextIO, clinical_control: str | None = None
) -> DrillReport:
    report = DrillReport()
    token = await supervisor_token(settings)
    base = str(settings.public_base_url).rstrip("/")
    auth = {"Authorization": f"Bearer {token}"}
    stub_url = control_url(settings, clinical_control)
    async with (
        httpx.AsyncClient(base_url=base, headers=auth, timeout=10, trust_env=False) as api,
        httpx.AsyncClient(base_url=settings.api_base_url, timeout=10, trust_env=False) as phone,
        httpx.AsyncClient(base_url=stub_url, timeout=10, trust_env=False) as stub,
    ):
        try:
            await api.get("/readyz")
            await phone.get("/sim/health")
            await stub.get("/control/health")
        except httpx.TransportError as error:
            raise DrillError(f"the local stack is not up ({error}); start it: make run") from None

        async def mode() -> str:
            return str((await api.get("/api/v1/mode")).json()["state"]["mode"])

        print(f"Taking the clinical system down for {minutes:g} minute(s)...", file=out, flush=True)
        (await stub.put("/control/fault", json={"mode": "down"})).raise_for_status()
        report.outage_started = time.monotonic()
        sids = []
        for (kind, line, keys), caller in zip(CALLS, CALLERS, strict=True):
            body = {"from": caller, "to": line, "inputs": keys, "press_after_prompts": True}
            response = await phone.post("/sim/calls", json=body)
            response.raise_for_status()
            sids.append((kind, response.json()["sid"]))
            report.calls[kind] += 1
        if await wait_for(lambda: _is(mode, "degraded"), within=max(60.0, minutes * 60)):
            report.degraded_after = time.monotonic() - report.outage_started
            print(f"Degraded after {report.degraded_after:.1f} s.", file=out, flush=True)
        await wrap_up_handlers(api)
        for _kind, sid in sids:
            report.outcomes[await _outcome(phone, sid, settings.ambulance_dispatch_number)] += 1
        remaining = report.outage_started + minutes * 60 - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        print("Bringing the clinical system back...", file=out, flush=True)
        (await stub.put("/control/fault", json={"mode": "up"})).raise_for_status()
        back = time.monotonic()
        if await wait_for(lambda: _is(mode, "normal"), within=300):
            report.normal_after = time.monotonic() - back
            normal_at = time.monotonic()

            async def replayed() -> bool:
                progress = (await api.get("/api/v1/journal/progress")).json()
                return bool(progress["pending"] == 0 and not progress["running"])

            if await wait_for(replayed, within=600):
                report.replayed_after = time.monotonic() - normal_at
        report.journal = (await api.get("/api/v1/journal/progress")).json()
        for sid in (sid for _, sid in sids):
            await phone.post(f"/sim/calls/{sid}/hangup")
    return report


async def _is(mode: Callable[[], Any], wanted: str) -> bool:
    return bool(await mode() == wanted)


async def wrap_up_handlers(api: httpx.AsyncClient) -> None:
    """Handlers who took drill calls refer them on, so the journal has referrals to replay."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        handlers = (await api.get("/api/v1/handlers")).json()
        done = [h for h in handlers if h["state"] == "wrap_up"]
        for handler in done:
            await api.post(
                f"/api/v1/handlers/{handler['profile']['id']}/wrap-up",
                json={"outcome": "referred", "notes": "outage drill", "available": True},
            )
        if done or not any(h["state"] in ("reserved", "busy") for h in handlers):
            return
        await asyncio.sleep(1)


async def _outcome(phone: httpx.AsyncClient, sid: str, dispatch_number: str) -> str:
    """How the call was routed, from what the caller's leg did."""
    events = (await phone.get(f"/sim/calls/{sid}")).json()["events"]
    for event in events:
        if event["type"] == "dial" and dispatch_number in event.get("targets", []):
            return "to the dispatch line"
        if event["type"] == "dial":
            return "to a handler"
    if any(event["type"] == "enqueue" for event in events):
        return "queued"
    return "in the IVR"
