"""The FHIR port as something that can be closed and reopened while the process runs, so that
`down` is a refused connection (nothing listening), not an error answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

START_DEADLINE_SECONDS = 10.0
# In-flight requests get this long to finish when the port closes (`slow` ones are woken first).
GRACE_SECONDS = 2


class _Server(uvicorn.Server):
    """A uvicorn server inside another's event loop: signals stay with the process's main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ListenerError(Exception):
    pass


class Listener:
    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family, backlog=2048)
        except OSError as error:
            raise ListenerError(f"cannot listen on {self.host}:{self.port}: {error}") from None
        # Port 0 picks a free port once; reopening after `down` must reuse that same one.
        self.port = int(sock.getsockname()[1])
        return sock

    async def open(self) -> None:
        if self._server is not None:
            return
        # Bound here, not by uvicorn: uvicorn turns a bind failure into SystemExit.
        sock = self._bind()
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"fhir-{self.port}")
        async with asyncio.timeout(START_DEADLINE_SECONDS):
            while not server.started:
                if task.done():
                    sock.close()
                    raise ListenerError(f"FHIR server on port {self.port} did not start")
                await asyncio.sleep(0.01)
        self._server, self._task = server, task
        log.info("FHIR port %s:%d open", self.host, self.port)

    async def close(self) -> None:
        """Stop accepting at once, let in-flight requests finish, and return once it is shut."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        self._server = self._task = None
        server.should_exit = True
        await task
        log.info("FHIR port %s:%d closed", self.host, self.port)
