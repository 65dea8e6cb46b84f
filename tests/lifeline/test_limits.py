"""Every request's body is read with a running limit, whatever route it is for and whether or not
it says its length: a server under uvicorn, bodies sent as a client would."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from config.settings import Settings
from lifeline import limits
from lifeline.app import Serve, create_app
from lifeline.limits import LIMITS, limit_for
from tests.sim.servers import free_port, serve

CHUNK = 64 * 1024


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with serve(create_app(settings), free_port()) as url:
        yield url


def test_each_part_of_the_site_has_its_limit_and_anything_else_a_small_one() -> None:
    assert limit_for("/twilio/voice") == 16 * 1024
    assert limit_for("/login") == 8 * 1024
    assert limit_for("/api/v1/rules/versions") == 512 * 1024
    assert limit_for("/nowhere") <= min(limit for _, limit in LIMITS if limit > 8 * 1024)


@pytest.mark.parametrize("path", ["/login", "/twilio/voice", "/api/v1/rules/versions", "/x"])
def test_a_body_sent_in_chunks_without_a_length_is_cut_off_at_the_limit(
    server: str, path: str
) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(20 * 1024 * 1024 // CHUNK):  # 20 MiB, if nobody stops it
            sent += CHUNK
            yield b"x" * CHUNK

    try:
        response = httpx.post(server + path, content=endless(), timeout=10)
        assert response.status_code == 413
        assert "the body is over" in response.text
    except httpx.TransportError:
        pass  # the server closed the connection on a client still sending: refused all the same
    # The server stopped taking it soon after the limit (the socket buffers hold a little more).
    assert sent < limit_for(path) + 8 * 1024 * 1024


def test_a_body_declaring_a_length_over_the_limit_is_refused_before_it_is_read(
    server: str,
) -> None:
    response = httpx.post(
        server + "/login",
        content=b"x" * (9 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"


def test_a_body_within_the_limit_reaches_its_route(server: str) -> None:
    response = httpx.post(server + "/login", data={"username": "sue"})
    assert response.status_code == 403  # the form's token is missing: the route itself said so


def test_a_body_that_stops_coming_is_given_up_and_its_connection_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends its headers and part of a body, then nothing, does not hold a
    connection for ever: after the deadline, 408 and the connection closed."""
    assert limits.BODY_SECONDS == 10.0
    monkeypatch.setattr(limits, "BODY_SECONDS", 1.0)  # the same, ten times sooner
    with serve(create_app(settings), free_port()) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as client:
            client.sendall(
                b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\nCallSid=CA"
            )
            started = time.monotonic()
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
            waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"the body did not arrive" in answer
    assert waited < 25  # closed by the server, not by the client's timeout


def test_the_webhooks_process_reads_no_body_for_a_path_it_does_not_serve(
    settings: Settings,
) -> None:
    """Only /twilio/ is the internet's: a body for the consoles' or the API's paths (which that
    process does not serve) is refused before it is read, not taken up to their limits."""
    with serve(create_app(settings, serve=Serve.WEBHOOKS), free_port()) as url:
        for path in ("/api/v1/rules/versions", "/console/rules/edit", "/login"):
            response = httpx.post(url + path, content=b"x" * 1024)
            assert response.status_code == 413, path
        assert httpx.post(url + "/api/v1/rules/versions").status_code == 404  # no body: not here
