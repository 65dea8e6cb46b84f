"""`lifeline web` as a process: it believes `X-Forwarded-For` only from the proxies it is told
to trust (none by default), so a client cannot pass for many to get round the sign-in limits."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from console.tokens import Role
from lifeline.redis_server import free_port
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DISPATCH
from tests.console.web.people import PASSWORD, add_user
from tests.e2e.stack import BIN

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def console_process(redis_url: str, logs: Path, **settings: str) -> Iterator[httpx.Client]:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
        "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",  # never reached by a sign-in
        **settings,
    }
    command = [str(BIN / "lifeline"), "web", "--serve", "console", "--port", str(port)]
    with (logs / "console.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, (logs / "console.log").read_text()
                    time.sleep(0.1)
            yield client
    finally:
        process.terminate()
        process.wait(10)


def sign_in(client: httpx.Client, password: str, forwarded_for: str) -> int:
    page = client.get("/login")
    found = TOKEN.search(page.text)
    assert found, page.text
    form = {"username": "sue", "password": password, "csrf_token": found.group(1)}
    headers = {"X-Forwarded-For": forwarded_for}
    return client.post("/login", data=form, headers=headers, follow_redirects=False).status_code


def test_a_client_naming_other_addresses_is_still_one_client(
    redis_url: str, tmp_path: Path
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    with console_process(redis_url, tmp_path) as client:
        answers = [sign_in(client, "wrong", f"203.0.113.{n}") for n in range(7)]
        assert answers[:5] == [401] * 5
        assert answers[5:] == [429, 429]  # five from one client, whatever it says it is
        assert sign_in(client, PASSWORD, "203.0.113.99") == 429


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8"])
def test_behind_a_trusted_proxy_each_forwarded_client_is_its_own(
    redis_url: str, tmp_path: Path, trusted: str
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    with console_process(redis_url, tmp_path, TRUSTED_PROXIES=trusted) as client:
        answers = [sign_in(client, "wrong", f"203.0.113.{n}") for n in range(7)]
        assert answers == [401] * 7
        assert sign_in(client, PASSWORD, "203.0.113.99") == 303
