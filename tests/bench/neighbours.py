"""Noisy neighbours: (a) the emergency screen's "yes" on a floor with no handler free (answered
with the dispatch `<Dial>`) and (b) a handler coming free -> the queued caller's connect request
reaching the phone network, idle and then beside each load, all in one run.

The stack runs as the Procfile runs it (webhooks, console and the handlers' floor apart, the four
worker pools, cron), with the simulated phone network and the clinical stub. A load's clients run
in a process of their own, so that they never hold up the measuring client; each starts before
the measurement and goes on until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import re
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import redis
import redis.asyncio
import uvloop
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from console.tokens import Role
from console.web.accounts import Accounts, NewUser
from console.web.context import STREAM_SECONDS
from console.web.csrf import FIELD, LOGIN_COOKIE
from console.web.sessions import COOKIE, Sessions
from routing.handlers import Handlers, HandlerState
from routing.journal import Journal
from tests.bench.callbacks import book, outbound
from tests.bench.load import MAIN_LINE, Result, read_response, request_bytes
from tests.bench.outage import case
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DISPATCH, METRICS, METRICS_TOKEN, make_settings
from tests.e2e.stack import Stack
from workers.fhir import bundle_json

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

SIGN_INS, STREAMS, JOURNAL, CALLBACKS, CHECKERS = 200, 200, 10_000, 50, 4
RULES_BYTES = 15 * 1024
# The heaviest replay the settings allow; /metrics, for the webhooks that failed.
ENV = {"REPLAY_PER_SECOND": "100", "METRICS_TOKEN": METRICS_TOKEN}
WARM_UP_SECONDS = 3.0  # a load's clients connected and busy before the measurement
EMERGENCY_GAP_SECONDS = 0.2  # each sends an ambulance request: a job of ~0.15 CPU-second
TWILIO_TIMEOUT_SECONDS = 15.0  # Twilio gives up on a webhook after this
GIVE_UP_AFTER = 2  # connections timed out under a load: the rest of its rounds try none
HEARTBEAT_SECONDS = 10.0  # a handler's console page, well inside the 30 s the sweep allows
RECONNECT_SECONDS = 2.0  # the wallboard's `retry:`, as a browser honours it
WALLBOARD_STREAM = "/console/events/wallboard?window=15m"
LOGIN_FORM = re.compile(rf'name="{FIELD}" value="([^"]+)"')


@dataclass(frozen=True)
class Target:
    """The console process and what its loads need: forms' tokens, a supervisor's session;
    and the handlers' own process, which their console pages send to."""

    host: str
    port: int
    floor_port: int
    login_cookie: str
    login_token: str
    session_cookie: str
    session_csrf: str
    rules: str
    api_token: str
    handlers: tuple[str, ...] = ()

    def request(
        self, method: str, path: str, cookie: str, form: dict[str, str] | None = None
    ) -> bytes:
        body = urlencode(form).encode() if form is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nCookie: {cookie}\r\n"
        if form is not None:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    def guess(self, username: str) -> bytes:
        form = {FIELD: self.login_token, "username": username, "password": "wrong password"}
        return self.request("POST", "/login", f"{LOGIN_COOKIE}={self.login_cookie}", form)

    def check(self) -> bytes:
        form = {"document": self.rules, "comment": "", "action": "check", FIELD: self.session_csrf}
        return self.request("POST", "/console/rules/edit", f"{COOKIE}={self.session_cookie}", form)


# The loads' clients, in their own process.

Load = Callable[[Target, Counter[str]], Awaitable[None]]


async def keep_going(
    counts: Counter[str], client: Callable[[], Awaitable[None]], pause: float
) -> None:
    """A client that connects again whenever its connection ends, as a browser or a script would."""
    while True:
        try:
            await client()
        except (OSError, asyncio.IncompleteReadError) as error:
            counts[f"error {type(error).__name__}"] += 1
        await asyncio.sleep(pause)


async def guesses(target: Target, counts: Counter[str], worker: int) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        for n in itertools.count():
            writer.write(target.guess(f"guess-{worker}-{n}-{secrets.token_hex(2)}"))
            counts[str(await read_response(reader))] += 1
    finally:
        writer.close()


async def sign_ins(target: Target, counts: Counter[str]) -> None:
    """Many sign-ins at once, each with a new username and a wrong password, one after another."""
    clients = (lambda w=w: guesses(target, counts, w) for w in range(SIGN_INS))
    await asyncio.gather(*(keep_going(counts, client, 0.1) for client in clients))


async def stream(target: Target, counts: Counter[str]) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(target.request("GET", WALLBOARD_STREAM, f"{COOKIE}={target.session_cookie}"))
        head = await reader.readuntil(b"\r\n\r\n")
        counts[f"stream {head.split(b' ', 2)[1].decode()}"] += 1
        counts["open"] += 1
        try:
            while chunk := await reader.read(65536):
                counts["events"] += chunk.count(b"event: ")
        finally:
            counts["open"] -= 1
    finally:
        writer.close()


async def wallboard(target: Target, counts: Counter[str]) -> None:
    """A wallboard left open: each stream lasts the server's 25 s, then the page connects again.
    The pages were opened at different moments, so the first stream ends at a random one."""
    with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError):
        async with asyncio.timeout(random.uniform(0, STREAM_SECONDS)):
            await stream(target, counts)
    await asyncio.sleep(RECONNECT_SECONDS)
    await keep_going(counts, lambda: stream(target, counts), RECONNECT_SECONDS)


async def streams(target: Target, counts: Counter[str]) -> None:
    await asyncio.gather(*(wallboard(target, counts) for _ in range(STREAMS)))


async def checking(target: Target, counts: Counter[str]) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        request = target.check()
        while True:
            writer.write(request)
            counts[str(await read_response(reader))] += 1
    finally:
        writer.close()


async def checks(target: Target, counts: Counter[str]) -> None:
    """Supervisors checking a large rule set in the editor, again and again."""
    clients = [lambda: checking(target, counts)] * CHECKERS
    await asyncio.gather(*(keep_going(counts, c, 0.1) for c in clients))


async def heartbeats(target: Target, counts: Counter[str]) -> None:
    """The handlers' console pages, keeping them on the floor."""
    headers = {"Authorization": target.api_token}
    base = f"http://{target.host}:{target.floor_port}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while True:
            for handler in target.handlers:
                response = await client.post(f"/api/v1/handlers/{handler}/heartbeat")
                counts[f"heartbeat {response.status_code}"] += 1
            await asyncio.sleep(HEARTBEAT_SECONDS)


LOADS: dict[str, Load] = {
    "sign-ins": sign_ins,
    "streams": streams,
    "checks": checks,
    "heartbeats": heartbeats,
}


async def until_stopped(stop: Event, load: Awaitable[None], counts: Counter[str]) -> dict[str, int]:
    """Run the load until the measuring process says stop; what it counted by then."""
    task = asyncio.ensure_future(load)
    told = asyncio.ensure_future(asyncio.to_thread(stop.wait))
    await asyncio.wait([task, told], return_when=asyncio.FIRST_COMPLETED)
    counted = dict(counts)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # a load that failed says so here
    return counted


def child(kind: str, target: Target, stop: Event, results: Queue[dict[str, int]]) -> None:
    counts: Counter[str] = Counter()
    results.put(uvloop.run(until_stopped(stop, LOADS[kind](target, counts), counts)))


class Child:
    """A load's clients in a process of their own, from construction until `end`."""

    def __init__(self, kind: str, target: Target) -> None:
        context = multiprocessing.get_context("spawn")
        self.started = time.perf_counter()
        self.stop = context.Event()
        self.results: Queue[dict[str, int]] = context.Queue()
        arguments = (kind, target, self.stop, self.results)
        self.process = context.Process(target=child, args=arguments, daemon=True)
        self.process.start()

    def end(self) -> tuple[dict[str, int], float]:
        """What the clients counted, and over how many seconds."""
        self.stop.set()
        seconds = time.perf_counter() - self.started
        try:
            return self.results.get(timeout=30), seconds
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


# The loads, as the measuring process starts and ends them.


class Neighbour(Protocol):
    name: str

    def start(self, stack: Stack, target: Target) -> None: ...

    def end(self, stack: Stack) -> str:
        """What the load did while it ran."""
        ...


@dataclass
class Idle:
    name: str = "idle"

    def start(self, stack: Stack, target: Target) -> None:
        pass

    def end(self, stack: Stack) -> str:
        return ""


@dataclass
class Clients:
    """A load that is nothing but clients of the console process."""

    name: str
    kind: str
    describe: Callable[[dict[str, int], float], str]
    child: Child | None = None

    def start(self, stack: Stack, target: Target) -> None:
        self.child = Child(self.kind, target)
        time.sleep(WARM_UP_SECONDS)

    def end(self, stack: Stack) -> str:
        assert self.child is not None
        return self.describe(*self.child.end())


def guessed(counts: dict[str, int], seconds: float) -> str:
    answered = sum(n for status, n in counts.items() if status.isdigit())
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{answered / seconds:,.0f} sign-ins answered a second ({statuses})"


def streamed(counts: dict[str, int], seconds: float) -> str:
    opened = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if not s.startswith("open"))
    return f"{counts.get('open', 0)} streams open at the end ({opened})"


def checked(counts: dict[str, int], seconds: float) -> str:
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{counts.get('200', 0) / seconds:.1f} checks a second, {CHECKERS} at once ({statuses})"


@dataclass
class CallbacksDue:
    """Callbacks booked while nobody could take them; then handlers free for all of them, made
    so through the store (which assigns nothing), so that the next floor sweep offers all of
    them in one step and puts all their jobs in the calls pool at once."""

    name: str = f"{CALLBACKS} callbacks falling due at once"
    handlers: tuple[str, ...] = tuple(f"cb{n:02d}" for n in range(CALLBACKS))
    placed_before: int = 0
    child: Child | None = None

    def start(self, stack: Stack, target: Target) -> None:
        for handler in self.handlers:
            stack.handler(handler, available=False)
            stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=1, talk_seconds=600)
        asyncio.run(book(stack.redis_url, CALLBACKS))
        self.placed_before = len(outbound(stack))
        asyncio.run(make_available(stack.redis_url, self.handlers))
        self.child = Child("heartbeats", replace(target, handlers=self.handlers))
        stack.wait_for(lambda: not callbacks(stack, "pending"), "the sweep to offer them", 30)

    def end(self, stack: Stack) -> str:
        assert self.child is not None
        _, seconds = self.child.end()
        placed = len(outbound(stack)) - self.placed_before
        for handler in self.handlers:  # off the floor (after their call), offers back in place
            stack.floor_api.put(f"/api/v1/handlers/{handler}/state", json={"state": "offline"})
        for callback in callbacks(stack, "pending"):
            cancel = f"/api/v1/callbacks/{callback['callback']['id']}/cancel"
            stack.api.post(cancel, json={"reason": "bench"})
        return f"all {CALLBACKS} offered in one sweep; {placed} placed over {seconds:.0f} s"


async def make_available(redis_url: str, handlers: tuple[str, ...]) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        for handler in handlers:
            await Handlers(client).choose(handler, HandlerState.AVAILABLE, time.time())
    finally:
        await client.aclose()


def callbacks(stack: Stack, status: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.api.get(
        "/api/v1/callbacks", params={"status": status}
    ).json()
    return found


@dataclass
class Replay:
    """The journal filled while degraded (forced), then handed back to the health checks: normal,
    and the replay starts. It runs last: it goes on until the stack stops."""

    name: str = f"a {JOURNAL:,}-entry journal replay"
    before: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0

    def start(self, stack: Stack, target: Target) -> None:
        stack.api.put("/api/v1/mode", json={"mode": "degraded", "reason": "bench: the journal"})
        asyncio.run(fill(stack.redis_url, JOURNAL))
        stack.api.put("/api/v1/mode", json={"mode": "auto", "reason": "bench: the replay"})
        stack.wait_for(lambda: progress(stack)["running"], "the replay to start", 30)
        time.sleep(WARM_UP_SECONDS)
        self.before, self.started = progress(stack), time.perf_counter()

    def end(self, stack: Stack) -> str:
        after, seconds = progress(stack), time.perf_counter() - self.started
        sent = (
            after["delivered"] + after["failed"] - self.before["delivered"] - self.before["failed"]
        )
        return (
            f"{sent / seconds:.0f} entries replayed a second; {after['pending']:,} still pending,"
            f" {'running' if after['running'] else 'stopped'}"
        )


def progress(stack: Stack) -> dict[str, Any]:
    found: dict[str, Any] = stack.api.get("/api/v1/journal/progress").json()
    return found


async def fill(redis_url: str, count: int) -> None:
    """Ambulance requests and referrals kept while the system was down; one bundle made, the
    others copied from it with their own case id and number (making each takes 2 ms)."""
    model = case(0, "RRRRR")
    text = json.dumps(bundle_json(model))
    facts = {"created": model.created.isoformat(), "locale": "en-GB", "reason": "medical"}
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    journal = Journal(client)

    async def capture(n: int) -> None:
        kept = case(n, "RRRRR")
        own = text.replace(model.case_id, kept.case_id).replace(
            model.caller_number, kept.caller_number
        )
        await journal.capture(
            kept.case_id, "referral", json.loads(own), facts | {"priority": 3}, time.time()
        )

    try:
        for start in range(0, count, 50):  # within the client's 100 connections
            await asyncio.gather(*(capture(n) for n in range(start, min(count, start + 50))))
    finally:
        await client.aclose()


def neighbours() -> list[Neighbour]:
    return [
        Idle(),
        Clients(f"{SIGN_INS} sign-ins, wrong passwords", "sign-ins", guessed),
        Clients(f"{STREAMS} wallboard streams", "streams", streamed),
        Clients(f"a {RULES_BYTES // 1024} KB rule set checked", "checks", checked),
        CallbacksDue(),
        Replay(),
    ]


# Setting up.


def rule_set(size: int = RULES_BYTES) -> str:
    """The packaged rule set grown into a contract area's: areas, each with its own lines, hours
    and overflow, and routes by line before the packaged ones (after the emergency screen's)."""
    packaged = resources.files("routing").joinpath("default_rules.yaml").read_text()
    head, _, tail = packaged.partition("routes:\n")
    screen, _, routes = tail.partition("  - name: welsh\n")
    queues: list[str] = []
    by_line: list[str] = []
    for n in itertools.count():
        area, lines = f"area_{n:02d}", ", ".join(f"'+4411349{n:02d}{k:03d}'" for k in range(3))
        queues.append(
            f"  {area}:\n    skills: [clinical]\n    hours:\n      open: {{mon: ['08:00-20:00'],"
            " tue: ['08:00-20:00'], wed: ['08:00-20:00'], thu: ['08:00-20:00'], fri:"
            " ['08:00-18:30'], sat: ['09:00-13:00']}\n    closed: {queue: general}\n"
            "    overflow:\n      - {no_skilled_handler: true, to: {queue: general}}\n"
            "      - {longer_than: 25, to: {queue: clinical}}\n"
        )
        by_line.append(
            f"  - name: {area}-worse\n    when: {{line: [{lines}], worse: [worse]}}\n"
            f"    queue: {area}\n    priority: 2\n"
            f"  - name: {area}-existing\n    when: {{line: [{lines}], reason: [existing_case]}}\n"
            f"    queue: {area}\n    priority: 3\n"
        )
        document = (
            head.replace("queues:\n", "queues:\n" + "".join(queues), 1)
            + f"routes:\n{screen}{''.join(by_line)}  - name: welsh\n{routes}"
        )
        if len(document.encode()) >= size:
            return document
    raise AssertionError("unreachable")


def prepare(stack: Stack) -> Target:
    """A supervisor's session (the streams, the checks), and a sign-in form's token with its
    cookie (the flood reuses one, as the review's flood did)."""
    session, csrf = asyncio.run(supervisor(stack.redis_url))
    with httpx.Client(base_url=stack.console_url, timeout=10) as stranger:
        found = LOGIN_FORM.search(stranger.get("/login").text)
        assert found is not None
        login_token, login_cookie = found.group(1), stranger.cookies[LOGIN_COOKIE]
    return Target(
        host="127.0.0.1",
        port=stack.console_port,
        floor_port=stack.floor_port,
        login_cookie=login_cookie,
        login_token=login_token,
        session_cookie=session,
        session_csrf=csrf,
        rules=rule_set(),
        api_token=str(stack.api.headers["Authorization"]),
    )


async def supervisor(redis_url: str) -> tuple[str, str]:
    """An account and a session started as signing in starts one: its cookie and CSRF token."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        password = SecretStr(secrets.token_urlsafe(16))
        new = NewUser(username="bench-sue", name="Sue", role=Role.SUPERVISOR, password=password)
        await Accounts(client).add(new, time.time())
        sessions = Sessions.of(client, make_settings(redis_url))
        session = await sessions.start(new.username, time.time(), second_factor=True)
        return sessions.signer.dumps(session.id), session.csrf
    finally:
        await client.aclose()


def connect_handlers(stack: Stack, count: int) -> Iterator[str]:
    """Handlers off the floor, one for each connection measured; each answers and stays on the
    line, so that once connected they are never free again."""
    handlers = [f"hb{n:03d}" for n in range(count)]
    for handler in handlers:
        stack.handler(handler, available=False)
        stack.sim.party(f"client:{handler}", answer="answer", ring_seconds=1, talk_seconds=86_400)
    return iter(handlers)


# Measuring.


class Emergencies:
    """Emergency callers: the entry webhook, then a "yes" at the emergency screen (timed), signed
    as Twilio signs them; one call at a time, each on a connection of its own."""

    def __init__(self, stack: Stack) -> None:
        self.port, self.base = stack.web_port, stack.web_url
        self.validator = RequestValidator(AUTH_TOKEN)
        self.callers = itertools.count()

    def requests(self) -> tuple[bytes, bytes]:
        n, host = next(self.callers), f"127.0.0.1:{self.port}"
        call = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID}
        call |= {"From": f"+4477001{n:05d}", "To": MAIN_LINE}
        entry = f"{self.base}/twilio/voice"
        screen = f"{self.base}/twilio/ivr/emergency?locale=en-GB"
        return (
            request_bytes(host, entry, call | {"CallStatus": "ringing"}, self.validator),
            request_bytes(host, screen, call | {"Digits": "1"}, self.validator),
        )

    def answer(self) -> tuple[float, bool] | None:
        """The screen's answer: how long it took, and whether it dialled the dispatch line;
        None if it took longer than Twilio waits."""
        entry, screen = self.requests()
        address = ("127.0.0.1", self.port)
        try:
            with socket.create_connection(address, TWILIO_TIMEOUT_SECONDS) as connection:
                reader = connection.makefile("rb")
                exchange(connection, reader, entry)
                started = time.perf_counter()
                status, body = exchange(connection, reader, screen)
                took = time.perf_counter() - started
        except TimeoutError:
            return None
        return took, status == 200 and dials_dispatch(body)


def exchange(connection: socket.socket, reader: IO[bytes], request: bytes) -> tuple[int, bytes]:
    connection.sendall(request)
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, reader.read(length)


def dials_dispatch(twiml: bytes) -> bool:
    number = ElementTree.fromstring(twiml).find("Dial/Number")
    return number is not None and number.text == DISPATCH


def events_until(stack: Stack, sid: str, deadline: float, **wanted: str) -> bool:
    """Whether the call's log shows an event with these fields before the deadline."""
    after = -1
    while time.monotonic() < deadline:
        params: dict[str, str | int | float] = {"after": after, "wait": 5}
        reply = stack.sim.http.get(f"/sim/calls/{sid}/events", params=params).json()
        for event in reply["events"]:
            after = max(after, event["seq"])
            if all(event.get(name) == value for name, value in wanted.items()):
                return True
        if reply["ended"]:
            return False
    return False


@dataclass(frozen=True)
class Connected:
    seconds: float | None  # the handler comes free (first try) -> the redirect reached the network
    api: float  # until the API took the change
    refused: int  # tries the API refused first


def come_free(stack: Stack, handler: str, deadline: float) -> tuple[bool, int]:
    """The handler's "available", tried again as they would click again, until the API takes it
    or the deadline passes: whether it took it, and how many tries it refused."""
    refused = 0
    body = {"state": "available"}
    while stack.floor_api.put(f"/api/v1/handlers/{handler}/state", json=body).status_code != 200:
        refused += 1
        if time.monotonic() > deadline:
            return False, refused
        time.sleep(0.1)
    return True, refused


def connect_time(stack: Stack, handler: str, caller: str) -> Connected:
    """A caller waits in the queue; the handler comes free through the API; until the network
    received the redirect to the connect TwiML (None: not within Twilio's webhook timeout)."""
    sid = stack.sim.call(["2", "1"], caller=caller)  # not an emergency; a medical problem
    if not events_until(stack, sid, time.monotonic() + TWILIO_TIMEOUT_SECONDS, type="enqueue"):
        raise RuntimeError(f"{sid} never reached the queue")
    deadline = time.monotonic() + TWILIO_TIMEOUT_SECONDS
    freed = time.time()
    taken, refused = come_free(stack, handler, deadline)
    api = time.time() - freed
    if not taken or not events_until(stack, sid, deadline, type="redirect", by="api"):
        # Neither left waiting nor free, to stand in the way of what is measured next.
        stack.sim.http.post(f"/sim/calls/{sid}/hangup")
        stack.floor_api.put(f"/api/v1/handlers/{handler}/state", json={"state": "offline"})
        return Connected(None, api, refused)
    requests = stack.sim.http.get("/sim/requests").json()["requests"]
    [redirect] = [r for r in requests if r["path"].endswith(f"/Calls/{sid}.json")]
    return Connected(datetime.fromisoformat(redirect["at"]).timestamp() - freed, api, refused)


@dataclass
class Phase:
    name: str
    answers: list[float] = field(default_factory=list)  # (a), seconds
    connects: list[float] = field(default_factory=list)  # (b), seconds
    api: list[float] = field(default_factory=list)  # of (b): until the API took the change
    refused: int = 0  # of (b): handlers' changes the API refused (tried again)
    not_dispatch: int = 0
    answer_timeouts: int = 0
    connect_timeouts: int = 0  # after GIVE_UP_AFTER, no more connections are tried
    safe_routes: int = 0  # webhooks answered with the safe route (something failed)
    load: str = ""
    cores: dict[str, float] = field(default_factory=dict)  # CPU used meanwhile, by process
    machine: float = 0.0  # cores busy meanwhile, all processes of the machine

    def p(self, samples: list[float], fraction: float) -> float:
        return Result(latencies=samples).percentile(fraction) if samples else float("nan")


def safe_routes(stack: Stack) -> int:
    text = httpx.get(f"{stack.web_url}/metrics", headers=METRICS, timeout=10).text
    rows = (line.rsplit(" ", 1) for line in text.splitlines())
    return sum(int(float(v)) for k, v in rows if k.startswith("lifeline_webhook_failures_total"))


def processes(stack: Stack) -> dict[str, int]:
    """Every process of the run, by name: the stack's, Redis, this one and the loads' clients."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        found = {"redis": int(client.info("server")["process_id"])}
    finally:
        client.close()
    found |= {name: process.pid for name, process in stack.processes.items()}
    found["bench"] = os.getpid()
    for n, child in enumerate(multiprocessing.active_children()):
        found[f"load-{n}" if n else "load"] = child.pid or 0
    return found


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User and system time of each process and its children reaped (RQ's work horses)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[name] = sum(int(value) for value in fields[11:15]) / tick
    return used


def machine_busy() -> tuple[int, int]:
    """Busy and all CPU ticks of the whole machine (all cores) so far, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # less idle and I/O wait


def measure(
    stack: Stack,
    phase: Phase,
    emergencies: Emergencies,
    handlers: Iterator[str],
    rounds: int,
    per_round: int,
) -> None:
    """Rounds of one connection, then emergencies one after another: each sees the load's whole
    course, and no handler is free while an emergency is answered."""
    pids = processes(stack)
    before, started, machine = cpu_seconds(pids), time.perf_counter(), machine_busy()
    for _ in range(rounds):
        handler = next(handlers)
        if phase.connect_timeouts < GIVE_UP_AFTER:
            connect(stack, phase, handler)
        for _ in range(per_round):
            answer(phase, emergencies)
            time.sleep(EMERGENCY_GAP_SECONDS)
    after, seconds = cpu_seconds(pids), time.perf_counter() - started
    phase.cores = {name: (after[name] - before[name]) / seconds for name in after if name in before}
    busy, ticks = (now - then for now, then in zip(machine_busy(), machine, strict=True))
    phase.machine = busy / ticks * (os.cpu_count() or 1)


def connect(stack: Stack, phase: Phase, handler: str) -> None:
    connected = connect_time(stack, handler, f"+4477002{handler[2:]:0>5}")
    phase.refused += connected.refused
    if connected.seconds is None:
        phase.connect_timeouts += 1
    else:
        phase.connects.append(connected.seconds)
        phase.api.append(connected.api)


def answer(phase: Phase, emergencies: Emergencies) -> None:
    answered = emergencies.answer()
    if answered is None:
        phase.answer_timeouts += 1
    else:
        phase.answers.append(answered[0])
        phase.not_dispatch += not answered[1]


def run(redis_url: str, logs: Path, rounds: int, per_round: int) -> list[Phase]:
    stack = Stack(
        redis_url, logs, with_cron=True, with_clinical=True, env=ENV, split=True, pools=True
    ).start()
    emergencies = Emergencies(stack)
    try:
        target = prepare(stack)
        loads = neighbours()
        handlers = connect_handlers(stack, rounds * len(loads))
        for _ in range(50):  # the processes' first requests are not what is measured
            emergencies.answer()
        phases = []
        for neighbour in loads:
            print(f"  {neighbour.name} ...", file=sys.stderr, flush=True)
            phase, failed = Phase(neighbour.name), safe_routes(stack)
            neighbour.start(stack, target)
            measure(stack, phase, emergencies, handlers, rounds, per_round)
            phase.load = neighbour.end(stack)
            phase.safe_routes = safe_routes(stack) - failed
            phases.append(phase)
        return phases
    finally:
        stack.stop()


def report(phases: list[Phase]) -> None:
    """One row a load: (a) and (b) in ms, their p99 against idle's, and what went wrong."""
    idle = phases[0]
    a_idle, b_idle = idle.p(idle.answers, 0.99), idle.p(idle.connects, 0.99)
    print(
        f"{'':<34}| {'(a) emergency answer, ms':<27}| {'(b) handler free -> connect, ms':<34}|"
        f"\n{'load':<34}|   n    p50    p99  x idle |  n    p50    p99  x idle  api p50 |"
        " refused  not dispatch  timeouts  safe route  goal"
    )
    for phase in phases:
        a50, a99 = phase.p(phase.answers, 0.5), phase.p(phase.answers, 0.99)
        b50, b99 = phase.p(phase.connects, 0.5), phase.p(phase.connects, 0.99)
        timeouts = phase.answer_timeouts + phase.connect_timeouts
        failures = phase.not_dispatch + timeouts + phase.safe_routes
        met = a99 <= 1.5 * a_idle and b99 <= 1.5 * b_idle and not failures
        print(
            f"{phase.name:<34}| {len(phase.answers):>3} {a50 * 1e3:6.2f} {a99 * 1e3:6.2f}"
            f" {a99 / a_idle:6.2f} | {len(phase.connects):>2} {b50 * 1e3:6.1f} {b99 * 1e3:6.1f}"
            f" {b99 / b_idle:6.2f}"
            f" {phase.p(phase.api, 0.5) * 1e3:8.1f} | {phase.refused:>7} {phase.not_dispatch:>13}"
            f" {timeouts:>9} {phase.safe_routes:>11}  {'met' if met else 'NOT met'}"
        )
        busiest = sorted(phase.cores.items(), key=lambda item: -item[1])[:5]
        cores = ", ".join(f"{name} {used:.2f}" for name, used in busiest)
        ours = sum(phase.cores.values())
        print(f"{'':<4}{phase.load + '; ' if phase.load else ''}cores busy: {phase.machine:.2f}")
        print(f"{'':<4}(this run's {ours:.2f}: {cores}; anything else {phase.machine - ours:.2f})")
