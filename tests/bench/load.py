"""A small HTTP/1.1 load generator: pre-built signed requests over keep-alive connections.

Raw asyncio streams rather than an HTTP client library, so that the generator costs far less CPU
than the servers it measures.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

MAIN_LINE = "+441134960000"


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


def request_bytes(
    host: str, url: str, params: dict[str, str], validator: RequestValidator
) -> bytes:
    body = urlencode(params).encode()
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    signature = validator.compute_signature(url, params)
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def call_requests(host: str, public_base: str, auth_token: str, index: int) -> list[bytes]:
    """One call through the entry and menu webhooks: ring, not an emergency, a medical problem."""
    validator = RequestValidator(auth_token)
    sid = "CA" + secrets.token_hex(16)
    caller = f"+4477009{index % 100000:05d}"
    base = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": MAIN_LINE}
    steps = [
        (f"{public_base}/twilio/voice", base | {"CallStatus": "ringing"}),
        (f"{public_base}/twilio/ivr/emergency?locale=en-GB", base | {"Digits": "2"}),
        (
            f"{public_base}/twilio/ivr/reason?locale=en-GB&screen=not_emergency",
            base | {"Digits": "1"},
        ),
    ]
    return [request_bytes(host, url, params, validator) for url, params in steps]


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def connection(port: int, calls: list[list[bytes]], result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for requests in calls:
            for request in requests:
                started = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                if status != 200:
                    result.errors += 1
    finally:
        writer.close()


async def drive(port: int, calls: list[list[bytes]], concurrency: int) -> Result:
    result = Result()
    shares = [calls[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(port, share, result) for share in shares if share))
    result.elapsed = time.perf_counter() - started
    return result
