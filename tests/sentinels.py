"""A primary, a replica and three sentinels watching them, as real processes the tests start,
kill and start again (docs/DEPLOYMENT.md's Redis)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import redis

from config.redis_client import RedisTarget
from lifeline.redis_server import RedisServer, find_redis_server, free_port

SERVICE = "lifeline"
DOWN_AFTER_MS = 1000  # a primary silent this long is down (production: a few seconds)


class Sentinels:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.primary = RedisServer(directory / "primary")
        self.replica = RedisServer(
            directory / "replica", arguments=("--replicaof", "127.0.0.1", str(self.primary.port))
        )
        self.ports = [free_port() for _ in range(3)]
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def target(self) -> RedisTarget:
        return RedisTarget(
            "redis://127.0.0.1/0", tuple(("127.0.0.1", port) for port in self.ports), SERVICE
        )

    def start(self) -> Sentinels:
        self.primary.start()
        self.replica.start()
        self.wait_for(lambda: self.linked(self.replica), "the replica to catch up")
        for n, port in enumerate(self.ports):
            here = self.directory / f"sentinel-{n}"
            here.mkdir(parents=True, exist_ok=True)
            config = here / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {here.resolve()}\nlogfile sentinel.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            self._sentinels.append(
                subprocess.Popen(
                    [find_redis_server(), str(config), "--sentinel"], stdout=subprocess.DEVNULL
                )
            )
        self.wait_for(self.all_see_everyone, "the sentinels to know each other and the replica")
        return self

    def primary_port(self) -> int | None:
        """The primary's port as the first sentinel that answers says."""
        for port in self.ports:
            try:
                client = redis.Redis(port=port, socket_timeout=0.5)
                host_port = cast(
                    "tuple[str, int] | None", client.sentinel_get_master_addr_by_name(SERVICE)
                )
                client.close()
                return int(host_port[1]) if host_port else None
            except redis.ConnectionError:
                continue
        return None

    def all_see_everyone(self) -> bool:
        for port in self.ports:
            try:
                client = redis.Redis(port=port, socket_timeout=0.5, decode_responses=True)
                master = cast("dict[str, Any]", client.sentinel_master(SERVICE))
                client.close()
            except (redis.ConnectionError, redis.ResponseError):
                return False
            if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                return False
        return True

    @staticmethod
    def linked(server: RedisServer) -> bool:
        client = redis.Redis(port=server.port, socket_timeout=0.5, decode_responses=True)
        try:
            info = client.info("replication")
        except redis.ConnectionError:
            return False
        finally:
            client.close()
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    @staticmethod
    def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
        """Seconds until `check()` holds; AssertionError naming `what` if it does not in time."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if check():
                return time.monotonic() - began
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self) -> None:
        for process in self._sentinels:
            process.kill()
            process.wait(timeout=10)
        for server in (self.replica, self.primary):
            server.kill()
