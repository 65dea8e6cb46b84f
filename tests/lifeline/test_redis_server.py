"""Our own redis-server: one that does not answer in time is not left running."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
import redis

from lifeline.redis_server import RedisServer
from tests.processes import left_after, processes
from tests.sim.servers import wait_until


def test_a_redis_server_that_never_answers_is_killed_when_its_start_times_out(
    tmp_path: Path,
) -> None:
    silent = tmp_path / "silent-redis-server"  # takes the arguments, never opens the port
    silent.write_text('#!/bin/sh\necho $$ > "$(dirname "$0")/silent.pid"\nexec sleep 600\n')
    silent.chmod(0o755)
    server = RedisServer(tmp_path / "data", executable=str(silent))
    pid_file = tmp_path / "silent.pid"
    try:
        with pytest.raises(RuntimeError, match=f"did not start on {server.port}"):
            server.start(timeout=0.5)

        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "its pid")
        assert left_after(5.0, pids={int(pid_file.read_text())}) == []
    finally:  # whatever the outcome, nothing of this test outlives it
        pid = int(pid_file.read_text()) if pid_file.exists() else 0
        if any(each == pid and name == "sleep" for each, _, _, name in processes()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_port_another_redis_server_took_first_is_refused_not_used(tmp_path: Path) -> None:
    first = RedisServer(tmp_path / "first", durable=False)
    first.start()
    try:
        client = redis.Redis.from_url(first.url)
        client.set("theirs", "1")
        second = RedisServer(tmp_path / "second", port=first.port, durable=False)
        with pytest.raises(RuntimeError, match=f"port {first.port} is another redis-server's"):
            second.start()
        assert client.get("theirs") == b"1"
        client.close()
    finally:
        first.stop()
