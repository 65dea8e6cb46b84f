"""The stack's own start-up: one that times out leaves none of its processes running."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.e2e.stack import Stack
from tests.processes import left_after, processes
from tests.sim.servers import wait_until


def test_a_start_that_times_out_stops_every_process_it_started_and_their_children(
    redis_url: str, tmp_path: Path
) -> None:
    # Nothing answers in no time: the first wait (for the web process) times out.
    stack = Stack(redis_url, tmp_path, start_timeout=0.0)
    # Started before `start`: a process that forks a child of its own and never answers.
    stack.spawn("forks", "sh", "-c", "sleep 600 & echo $! > forked.pid; wait")
    forked = tmp_path / "forked.pid"
    child = 0
    try:
        wait_until(lambda: forked.exists() and forked.read_text().strip() != "", "the fork")
        child = int(forked.read_text())
        with pytest.raises(AssertionError, match="timed out waiting for the web process"):
            stack.start()

        assert set(stack.processes) == {"forks", "web", "phone", "worker"}
        groups = {process.pid for process in stack.processes.values()}
        assert left_after(5.0, pids={child}, groups=groups) == []
    finally:  # whatever the outcome, nothing of this test outlives it
        stack.stop()
        if any(pid == child and name == "sleep" for pid, _, _, name in processes()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
