"""Lifeline as it runs: the web, worker and cron processes and the simulated phone network, each
its own process, talking real HTTP, on a throwaway Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from console.tokens import Role, Scope, Tokens
from lifeline.redis_server import free_port
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    DISPATCH,
    METRICS_TOKEN,
    NUMBER_HASH_KEY,
    WELSH_LINE,
)
from tests.fhir_r4 import SCHEMA_PATH
from tests.sim.servers import SimClient

BIN = Path(sys.executable).parent
TIME_SCALE = 0.05  # simulated waits (pauses, ringing, gather timeouts) run 20 times faster
PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"

LATEST_CALL_SECONDS = 10  # the least the setting allows


def procfile_workers() -> dict[str, list[str]]:
    """The Procfile's worker pools: each `lifeline worker` line's name and arguments."""
    lines = (line.partition(":") for line in PROCFILE.read_text().splitlines())
    commands = {name.strip(): shlex.split(command) for name, _, command in lines}
    return {name: words[1:] for name, words in commands.items() if words[1:2] == ["worker"]}


class Stack:
    def __init__(
        self,
        redis_url: str,
        logs: Path,
        with_cron: bool = False,
        with_clinical: bool = False,
        env: dict[str, str] | None = None,
        start_timeout: float = 20.0,
        split: bool = False,
        pools: bool = False,
    ) -> None:
        self.redis_url = redis_url
        self.start_timeout = start_timeout
        self.logs = logs
        self.web_port, self.phone_port = free_port(), free_port()
        self.split = split  # the webhooks, the consoles and the handlers' own: processes apart
        self.pools = pools  # the Procfile's worker pools, rather than one worker for all
        self.console_port = free_port() if split else self.web_port
        self.console_url = f"http://127.0.0.1:{self.console_port}"
        self.floor_port = free_port() if split else self.web_port
        self.floor_url = f"http://127.0.0.1:{self.floor_port}"
        self.fhir_port, self.clinical_control_port = free_port(), free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.phone_url = f"http://127.0.0.1:{self.phone_port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "REDIS_URL": redis_url,
            "PUBLIC_BASE_URL": self.web_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "NUMBER_HASH_KEY": NUMBER_HASH_KEY,  # as the tests' own stores hash numbers
            "TWILIO_API_BASE_URL": self.phone_url,
            # The simulated network makes a call as it answers the request (or never): how late
            # Twilio may act (30 s) need not be waited out.
            "TWILIO_LATEST_CALL_SECONDS": str(LATEST_CALL_SECONDS),
            "CLINICAL_FHIR_BASE_URL": f"http://127.0.0.1:{self.fhir_port}/fhir",
            "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
            "WELSH_LINE_NUMBERS": WELSH_LINE,
            "SIM_TIME_SCALE": str(TIME_SCALE),
            "SIM_SPEECH_WORDS_PER_SECOND": "0",
            "LOG_LEVEL": "INFO",
            "METRICS_TOKEN": METRICS_TOKEN,
        }
        self.env.update(env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.with_cron = with_cron
        self.with_clinical = with_clinical
        self.clinical_control_url = f"http://127.0.0.1:{self.clinical_control_port}"

    def spawn(self, name: str, *command: str) -> None:
        """Start a process in a session of its own: `stop` ends its whole process group."""
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.logs,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> Stack:
        """Start every process and wait until each answers; if any does not in time (or anything
        else goes wrong), stop every process started so far before the error goes on."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Stack:
        timeout = self.start_timeout
        lifeline_web = (str(BIN / "lifeline"), "web", "--host", "127.0.0.1")
        if self.split:
            self.spawn(
                "webhooks", *lifeline_web, "--port", str(self.web_port), "--serve", "webhooks"
            )
            self.spawn(
                "console", *lifeline_web, "--port", str(self.console_port), "--serve", "console"
            )
            self.spawn("floor", *lifeline_web, "--port", str(self.floor_port), "--serve", "floor")
        else:
            self.spawn("web", *lifeline_web, "--port", str(self.web_port))
        self.spawn("phone", str(BIN / "lifeline-sim"), "phone", "--port", str(self.phone_port))
        workers = procfile_workers() if self.pools else {"worker": ["worker"]}
        for name, arguments in workers.items():
            self.spawn(name, str(BIN / "lifeline"), *arguments)
        if self.with_clinical:
            self.spawn(
                "clinical",
                str(BIN / "lifeline-sim"),
                "clinical",
                "--port",
                str(self.fhir_port),
                "--control-port",
                str(self.clinical_control_port),
            )
            self.wait_for(
                lambda: self.up(f"{self.clinical_control_url}/control/health"),
                "the clinical stub",
                timeout,
            )
            # Every Bundle the stub receives is checked against the FHIR R4 JSON schema.
            checks = {"r4_schema": str(SCHEMA_PATH)}
            httpx.put(f"{self.clinical_control_url}/control/checks", json=checks).raise_for_status()
        if self.with_cron:
            self.spawn("cron", str(BIN / "lifeline"), "cron")
        self.wait_for(lambda: self.up(f"{self.web_url}/healthz"), "the web process", timeout)
        self.wait_for(lambda: self.up(f"{self.console_url}/healthz"), "the consoles", timeout)
        self.wait_for(lambda: self.up(f"{self.floor_url}/healthz"), "the handlers' own", timeout)
        self.wait_for(lambda: self.up(f"{self.phone_url}/sim/health"), "the phone network", timeout)
        self.sim = SimClient(self.phone_url)
        self.api = httpx.Client(base_url=self.console_url, timeout=10)
        # The handlers' own process (the console's, unless split).
        self.floor_api = httpx.Client(base_url=self.floor_url, timeout=10)
        # A supervisor's token that may also activate rule sets, as an admin would make it.
        rules = self.token(Role.SUPERVISOR, scopes=frozenset({Scope.RULES}))
        self.api.headers["Authorization"] = f"Bearer {rules}"
        self.floor_api.headers["Authorization"] = f"Bearer {rules}"
        return self

    def stop(self) -> None:
        """SIGTERM to each process, SIGKILL to one that has not gone in 10 s; then SIGKILL to
        whatever is left in its process group (a work horse it forked, say). The group's id
        cannot be another's while any of its members lives."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if hasattr(self, "sim"):
            self.sim.close()
            self.api.close()
            self.floor_api.close()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def up(self, url: str) -> bool:
        try:
            return httpx.get(url, timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited while waiting for {what}:\n{self.log(name)}")
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.processes)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)

    def token(self, role: Role, handler: str = "", scopes: frozenset[Scope] = frozenset()) -> str:
        async def create() -> str:
            client = redis.asyncio.Redis.from_url(self.redis_url, decode_responses=True)
            try:
                made = await Tokens(client).create(
                    f"e2e {role}", role, time.time(), handler, scopes=scopes
                )
                return made[1]
            finally:
                await client.aclose()

        return asyncio.run(create())

    def handler(
        self, handler_id: str, skills: dict[str, int] | None = None, available: bool = True
    ) -> None:
        profile = {
            "id": handler_id,
            "name": handler_id,
            "skills": skills or {},
            "device": {"kind": "client", "address": handler_id},
        }
        response = self.api.post("/api/v1/handlers", json=profile)
        assert response.status_code == 201, response.text
        if available:
            self.state(handler_id, "available")

    def state(self, handler_id: str, state: str) -> dict[str, Any]:
        response = self.api.put(f"/api/v1/handlers/{handler_id}/state", json={"state": state})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def clinical(self, mode: str, **options: float) -> None:
        """Switch the clinical stub's fault mode (up, down, slow, errors, flapping, duplicates)."""
        body = {"mode": mode, **options}
        response = httpx.put(f"{self.clinical_control_url}/control/fault", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def received(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.clinical_control_url}/control/received", timeout=10)
        records: list[dict[str, Any]] = response.json()["received"]
        return records

    def mode(self) -> str:
        return str(self.api.get("/api/v1/mode").json()["state"]["mode"])

    def handler_now(self, handler_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get(f"/api/v1/handlers/{handler_id}").json()
        return result
