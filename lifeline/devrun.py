"""`lifeline run`: a whole local Lifeline from a fresh clone, with stand-ins for the outside world.

Settings already given (environment or `.env`) are kept; the rest get local values, written to
`var/run.env` so that commands in another terminal (`lifeline call`) see the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import httpx
from dotenv import dotenv_values
from pydantic import SecretStr
from redis.exceptions import RedisError

from config.redis_client import async_client
from config.settings import RUN_ENV_FILE, LogFormat, load_settings
from console.tokens import Role
from console.web.accounts import Accounts, NewUser
from console.web.mfa import SecondFactors, new_secret
from lifeline.redis_server import RedisServer, free_port
from routing.handlers import Device, HandlerProfile, Handlers, HandlerState
from routing.rules import default_rules

VAR = Path("var")
CHECKOUT = Path(__file__).resolve().parents[1]  # `lifeline run` is for a checkout of Lifeline
WEB_PORT = 8000
PHONE_PORT = 8010
CLINICAL_PORT = 8020
CLINICAL_CONTROL_PORT = 8021  # lifeline-sim clinical's defaults
MAIN_LINE = "+441134960000"  # Ofcom's drama ranges: numbers that are never anyone's
WELSH_LINE = "+442920180111"
DISPATCH_LINE = "+441632960999"
UP_WITHIN_SECONDS = 180  # past this, a slow start says nothing more; its log says what is wrong


def given_settings() -> dict[str, str]:
    """What the environment and `.env` already set (names upper-cased)."""
    from_file = {k.upper(): v for k, v in dotenv_values(".env").items() if v is not None}
    return from_file | {k.upper(): v for k, v in os.environ.items()}


def local_values(given: dict[str, str], redis_url: str | None) -> dict[str, str]:
    port = int(given.get("PORT", WEB_PORT))
    phone_port = int(given.get("SIM_PHONE_PORT", PHONE_PORT))
    values = {
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{phone_port}",
        "CLINICAL_FHIR_BASE_URL": f"http://127.0.0.1:{CLINICAL_PORT}/fhir",
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH_LINE,
        "WELSH_LINE_NUMBERS": WELSH_LINE,
        "PORT": str(port),
        "SIM_PHONE_PORT": str(phone_port),
        "SIM_SPEECH_WORDS_PER_SECOND": "0",  # prompts print at once; keys still wait as on Twilio
        "LOG_FORMAT": LogFormat.TEXT.value,  # readable, and only what is news, in a terminal
    }
    if redis_url:
        values["REDIS_URL"] = redis_url
    return {name: value for name, value in values.items() if name not in given}


NUMBER_HASH_KEY_FILE = VAR / "number-hash-key"


def kept_number_hash_key() -> str:
    """The local runs' NUMBER_HASH_KEY: made once, then kept in var/ (git-ignored) beside the
    embedded Redis's data, so that a run knows the callers and callbacks of the runs before."""
    if NUMBER_HASH_KEY_FILE.exists():
        kept = NUMBER_HASH_KEY_FILE.read_text().strip()
        if kept:
            return kept
    key = secrets.token_urlsafe(32)
    NUMBER_HASH_KEY_FILE.touch(mode=0o600, exist_ok=True)
    NUMBER_HASH_KEY_FILE.write_text(key + "\n")
    return key


DEMO_HANDLERS = ("demo-1", "demo-2")


async def seed_demo_handlers(redis_url: str, skills: tuple[str, ...]) -> None:
    """Two available handlers whose (simulated) phones answer, so a local call is answered.
    Their consoles are heard from at once: a run before this one (its Redis data kept) left
    their last heartbeat behind, and the first sweep would take them offline for it."""
    client = async_client(redis_url)
    try:
        handlers = Handlers(client)
        for handler_id in DEMO_HANDLERS:
            profile = HandlerProfile(
                id=handler_id,
                name=f"Demo handler {handler_id[-1]}",
                skills=dict.fromkeys(skills, 3),
                device=Device(kind="client", address=handler_id),
            )
            await handlers.create(profile, time.time())
            await handlers.heartbeat(handler_id, time.time())
            if (await handlers.get(handler_id)).state is HandlerState.OFFLINE:
                await handlers.choose(handler_id, HandlerState.AVAILABLE, time.time())
    finally:
        await client.aclose()


LOGINS_FILE = VAR / "console-logins.txt"
FIRST_SUPERVISOR = "supervisor"


class Login(NamedTuple):
    """An account made for a local run: its password and its second factor's secret."""

    username: str
    password: str
    secret: str


async def seed_accounts(redis_url: str, now: float) -> list[Login]:
    """A first supervisor when there is none, and accounts for the demo handlers, each enrolled
    with a second factor (a local run switches nothing off); returns each account made, with
    the password and TOTP secret made up here."""
    client = async_client(redis_url)
    made: list[Login] = []
    try:
        accounts = Accounts(client)
        factors = SecondFactors.of(accounts)
        wanted = (
            [] if await accounts.any_supervisor() else [(FIRST_SUPERVISOR, Role.SUPERVISOR, "")]
        )
        wanted += [(handler_id, Role.HANDLER, handler_id) for handler_id in DEMO_HANDLERS]
        for username, role, handler_id in wanted:
            if await accounts.get(username) is not None:
                continue
            password = secrets.token_urlsafe(12)
            name = "First supervisor" if role is Role.SUPERVISOR else f"Demo handler {username[-1]}"
            await accounts.add(
                NewUser(
                    username=username,
                    name=name,
                    role=role,
                    handler=handler_id,
                    password=SecretStr(password),
                ),
                now,
            )
            secret = new_secret()
            await factors.enrol(username, secret)
            made.append(Login(username, password, secret))
    finally:
        await client.aclose()
    return made


def keep_logins(made: list[Login]) -> None:
    """Passwords and TOTP secrets made for a local run, for its user to read again (var/ is
    git-ignored): `username password secret` a line."""
    if not made:
        return
    LOGINS_FILE.touch(mode=0o600, exist_ok=True)
    with LOGINS_FILE.open("a") as out:
        for login in made:
            out.write(f"{login.username} {login.password} {login.secret}\n")


CODE_COMMAND = ".venv/bin/lifeline user totp"


def logins_lines(env: dict[str, str], made: list[Login]) -> str:
    url = env["PUBLIC_BASE_URL"].rstrip("/") + "/login"
    codes = (
        f"                           then the code: {CODE_COMMAND} USERNAME (in another terminal)"
    )
    if not made:
        return (
            f"  consoles                 {url}   (accounts exist; first passwords in {LOGINS_FILE})"
            f"\n{codes}"
        )
    accounts = "\n".join(
        f"                           {login.username:<12} password {login.password:<18}"
        f" code: {CODE_COMMAND} {login.username}"
        for login in made
    )
    heading = (
        f"  consoles                 {url}   sign in as (shown once; passwords and TOTP"
        f" secrets kept in {LOGINS_FILE}):"
    )
    return f"{heading}\n{accounts}"


def banner(
    env: dict[str, str], embedded: RedisServer | None, made: list[Login] | None = None
) -> str:
    redis_line = (
        f"embedded redis-server at {env['REDIS_URL']} (AOF on, data in {embedded.directory})\n"
        f"                           binary: {embedded.executable}"
        if embedded
        else f"{env['REDIS_URL']} (REDIS_URL)"
    )
    return f"""
Lifeline is starting.
  web (webhooks, health)   {env["PUBLIC_BASE_URL"]}   /healthz /readyz /metrics
                           (/metrics with Authorization: Bearer METRICS_TOKEN, in {RUN_ENV_FILE})
  phone network (sim)      {env["TWILIO_API_BASE_URL"]}
  redis                    {redis_line}
  lines                    main {MAIN_LINE}, Welsh {env["WELSH_LINE_NUMBERS"]}
  dispatch line            {env["AMBULANCE_DISPATCH_NUMBER"]}
  handlers                 {", ".join(DEMO_HANDLERS)} (available; their simulated phones answer)
{logins_lines(env, made or [])}

An API token for a supervisor: .venv/bin/lifeline token create --account supervisor
  (add --scope rules for one that may activate rule sets)
Place a call from another terminal:
  .venv/bin/lifeline call                                     (you press the keys)
  .venv/bin/lifeline call --from +447700900123 --to {MAIN_LINE} --press 2,1 --hold 10
                                   (keys for you; on hold up to 10 s, long enough to be answered)
Stop with Ctrl-C.
"""


def up_lines(env: dict[str, str]) -> str:
    """Where to go, said again once the web answers: the processes' start-up has pushed the
    banner up by then. Never the passwords: they stay in the banner and LOGINS_FILE."""
    base = env["PUBLIC_BASE_URL"].rstrip("/")
    return f"""
Lifeline is up.
  consoles                 {base}/login   (passwords: the banner above, and {LOGINS_FILE})
  web (webhooks, health)   {base}   /healthz /readyz /metrics
  phone network (sim)      {env["TWILIO_API_BASE_URL"]}
  place a call             .venv/bin/lifeline call   (from another terminal)
"""


def wait_until_up(port: int, processes: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether the web process is ready (`/readyz`) before the processes stop or time runs out."""
    deadline = time.monotonic() + timeout
    while processes.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1, trust_env=False)
            if ready.status_code == 200:
                return True
        time.sleep(0.5)
    return False


class DemoConsoles(threading.Thread):
    """The demo handlers' consoles, as far as Lifeline can tell: a heartbeat every few seconds
    while `lifeline run` runs (without it, the floor sweep takes silent handlers offline)."""

    def __init__(self, redis_url: str, every_seconds: float = 10.0) -> None:
        super().__init__(name="demo-consoles", daemon=True)
        self.redis_url = redis_url
        self.every_seconds = every_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            with contextlib.suppress(RedisError):  # Redis restarting: the next beat will do
                asyncio.run(self.beat())
            if self.stopping.wait(self.every_seconds):
                return

    async def beat(self) -> None:
        client = async_client(self.redis_url)
        try:
            for handler_id in DEMO_HANDLERS:
                await Handlers(client).heartbeat(handler_id, time.time())
        finally:
            await client.aclose()


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def taken_ports(given: dict[str, str]) -> list[str]:
    """The ports of Procfile.dev's processes that something else already listens on."""
    wanted = {
        "web (PORT)": int(given.get("PORT", WEB_PORT)),
        "phone network (SIM_PHONE_PORT)": int(given.get("SIM_PHONE_PORT", PHONE_PORT)),
        "clinical stub": CLINICAL_PORT,
        "clinical stub's control": CLINICAL_CONTROL_PORT,
    }
    taken = []
    for what, port in wanted.items():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(f"{port} ({what})")
    return taken


def run() -> int:
    VAR.mkdir(exist_ok=True)
    run_env = Path(RUN_ENV_FILE)
    run_env.unlink(missing_ok=True)
    given = given_settings()
    taken = taken_ports(given)
    if taken:
        print(
            f"lifeline run: something else listens on port {', '.join(taken)}: stop it (an"
            " earlier `make run`?) or, for the web and the phone network, set another PORT or"
            " SIM_PHONE_PORT",
            file=sys.stderr,
        )
        return 2
    embedded: RedisServer | None = None
    if "REDIS_URL" not in given:
        embedded = RedisServer(VAR / "redis", port=free_port())
        embedded.start()
    try:
        values = local_values(given, embedded.url if embedded else None)
        if "NUMBER_HASH_KEY" not in given:
            values["NUMBER_HASH_KEY"] = kept_number_hash_key()
        run_env.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        settings = load_settings()  # stop here, naming the variable, if anything is wrong
        try:
            asyncio.run(seed_demo_handlers(str(settings.redis_url), default_rules().skills))
            made = asyncio.run(seed_accounts(str(settings.redis_url), time.time()))
        except RedisError as error:
            where = f"{settings.redis_url.host}:{settings.redis_url.port}"  # never its password
            print(
                f"lifeline run: Redis at {where} (REDIS_URL) cannot be reached"
                f" ({type(error).__name__}): start it, or unset REDIS_URL for a Redis of the"
                " run's own",
                file=sys.stderr,
            )
            return 2
        keep_logins(made)
        env = os.environ | values
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        print(banner(given | values, embedded, made), flush=True)
        procfile = str(CHECKOUT / "Procfile.dev")
        command = [
            sys.executable,
            "-m",
            "honcho",
            "start",
            "-f",
            procfile,
            "-d",
            ".",
            "-p",
            env["PORT"],
        ]
        honcho = subprocess.Popen(command, env=env)
        consoles = DemoConsoles(str(settings.redis_url))
        consoles.start()
        # Stopped by a process manager or `kill` as by Ctrl-C: nothing may be left running.
        for stop in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop, interrupted)
        try:
            if wait_until_up(int(env["PORT"]), honcho, timeout=UP_WITHIN_SECONDS):
                print(up_lines(given | values), flush=True)
            return honcho.wait()
        except KeyboardInterrupt:
            honcho.send_signal(signal.SIGINT)  # a terminal sends it to all; a script, to us only
            honcho.wait(timeout=30)
            return 0
    finally:
        run_env.unlink(missing_ok=True)
        if embedded:
            embedded.stop()
