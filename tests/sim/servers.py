"""Real HTTP servers for tests: uvicorn in a thread, a TwiML-serving application under test that
checks every Twilio signature, and a small client for the sim's control API."""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-not-a-secret"
DEADLINE = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: ASGIApp, port: int, deadline: float = DEADLINE) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1:`port` in a thread; yield its base URL. A server
    that has not started within `deadline` is told to stop (and waited for) before the error."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        started_by = time.monotonic() + deadline
        while not server.started:
            if time.monotonic() > started_by or not thread.is_alive():
                raise RuntimeError(f"server on port {port} did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(DEADLINE)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass(frozen=True)
class Received:
    """One request that reached the application under test."""

    method: str
    path: str
    url: str
    params: dict[str, str]  # the form for POST, the query for GET
    signature_valid: bool


Reply = str | Response
Handler = Callable[[Received], Reply | Awaitable[Reply]]


class AppUnderTest:
    """Serves whatever TwiML each test sets per path, and records (and verifies) every request."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._routes: dict[str, Handler] = {}
        self.received: list[Received] = []
        self.base_url = ""

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    def reset(self) -> None:
        self._routes.clear()
        self.received.clear()
        # Like any real application, it accepts status callbacks unless a test says otherwise.
        self._routes["/twilio/status"] = lambda received: Response(status_code=204)

    def on(self, path: str, reply: Handler | str) -> None:
        """Serve `reply` (TwiML text, or a function of the request) at `path`."""
        if isinstance(reply, str):
            text = reply
            self._routes[path] = lambda received: text
        else:
            self._routes[path] = reply

    def url(self, path: str) -> str:
        return self.base_url + path

    def to(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    def wait_for(self, path: str, count: int = 1) -> list[Received]:
        wait_until(lambda: len(self.to(path)) >= count, f"{count} request(s) to {path}")
        return self.to(path)

    async def _handle(self, request: Request) -> Response:
        if request.method == "POST":
            body = (await request.body()).decode()
            params = dict(parse_qsl(body, keep_blank_values=True))
            signed: dict[str, Any] = params
        else:
            params = dict(request.query_params)
            signed = {}
        url = str(request.url)
        signature = request.headers.get("x-twilio-signature", "")
        received = Received(
            method=request.method,
            path=request.url.path,
            url=url,
            params=params,
            signature_valid=bool(self._validator.validate(url, signed, signature)),
        )
        self.received.append(received)
        handler = self._routes.get(request.url.path)
        if handler is None:
            return Response("not found", status_code=404)
        reply = handler(received)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, Response):
            return reply
        return Response(reply, media_type="application/xml")


class SimClient:
    """The control API, synchronously, with helpers that wait on events rather than sleeping."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=DEADLINE)

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        self.http.post("/sim/reset").raise_for_status()

    def call(
        self,
        inputs: list[str] | None = None,
        *,
        caller: str = "+447700900123",
        line: str = "+441134960000",
        events: list[str] | None = None,
    ) -> str:
        body: dict[str, object] = {"from": caller, "to": line, "inputs": inputs or []}
        if events is not None:
            body["status_callback_events"] = events
        response = self.http.post("/sim/calls", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    def record(self, sid: str) -> dict[str, Any]:
        response = self.http.get(f"/sim/calls/{sid}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def events(self, sid: str, *types: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.record(sid)["events"]
        return [event for event in events if not types or event["type"] in types]

    def wait_event(self, sid: str, type_: str, count: int = 1) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.events(sid, type_)) >= count, f"{count} {type_} on {sid}")
        return self.events(sid, type_)

    def wait_ended(self, sid: str) -> dict[str, Any]:
        wait_until(lambda: bool(self.record(sid)["ended"]), f"call {sid} to end")
        return self.record(sid)

    def press(self, sid: str, digits: str) -> bool:
        response = self.http.post(f"/sim/calls/{sid}/input", json={"digits": digits})
        response.raise_for_status()
        return bool(response.json()["delivered"])

    def say(self, sid: str, speech: str) -> bool:
        response = self.http.post(f"/sim/calls/{sid}/input", json={"speech": speech})
        response.raise_for_status()
        return bool(response.json()["delivered"])

    def hang_up(self, sid: str) -> None:
        self.http.post(f"/sim/calls/{sid}/hangup").raise_for_status()

    def party(self, address: str, **behaviour: object) -> None:
        self.http.put(f"/sim/parties/{address}", json=behaviour).raise_for_status()

    def conferences(self) -> list[dict[str, Any]]:
        response = self.http.get("/sim/conferences")
        response.raise_for_status()
        conferences: list[dict[str, Any]] = response.json()["conferences"]
        return conferences

    def conference(self, name: str) -> dict[str, Any]:
        """The latest conference of that friendly name."""
        found = [c for c in self.conferences() if c["friendly_name"] == name]
        assert found, f"no conference {name!r}"
        return found[-1]

    def faults(self, **body: object) -> None:
        self.http.post("/sim/faults", json=body).raise_for_status()


def twiml(*verbs: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"
