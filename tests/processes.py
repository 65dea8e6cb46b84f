"""What is still running, read from /proc: for tests that a start-up gone wrong leaves nothing;
and `lifeline` run as a process of its own."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from subprocess import CompletedProcess


def processes() -> Iterator[tuple[int, int, str, str]]:
    """(pid, process group, state, command name) of every process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": the name may hold spaces and brackets.
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        yield int(text.split(" ", 1)[0]), int(fields[2]), fields[0], name


def left_running(pids: Collection[int] = (), groups: Collection[int] = ()) -> list[str]:
    """Processes, not zombies, that are one of `pids` or in one of the process `groups`."""
    return sorted(
        f"{pid} {name} (group {group})"
        for pid, group, state, name in processes()
        if state != "Z" and (pid in pids or group in groups)
    )


def left_after(
    timeout: float, pids: Collection[int] = (), groups: Collection[int] = ()
) -> list[str]:
    """`left_running`, once that is nothing or `timeout` has passed (a kill takes a moment)."""
    deadline = time.monotonic() + timeout
    while (left := left_running(pids, groups)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def lifeline(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> CompletedProcess[str]:
    """`lifeline ARGS` run to its end in a process of its own (a minute at most), its output
    kept."""
    return subprocess.run(
        [sys.executable, "-m", "lifeline", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
