"""`make bench`: Lifeline's webhooks under uvicorn against a real Redis, beside a static baseline.

Both servers run with the same uvicorn settings (one worker, httptools, uvloop, no access log),
take the same signed requests, and are measured in the same run; the ratio is what matters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from lifeline.redis_server import RedisServer, free_port
from tests.bench.assignment import QUEUES, measure_assignment
from tests.bench.load import Result, call_requests, drive

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def serve(target: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", *target, "--port", str(port), *UVICORN]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server on {port} did not start")


def measure(port: int, calls: int, concurrency: int, public_base: str) -> Result:
    host = f"127.0.0.1:{port}"
    warm = [call_requests(host, public_base, AUTH_TOKEN, i) for i in range(200)]
    asyncio.run(drive(port, warm, concurrency))
    work = [call_requests(host, public_base, AUTH_TOKEN, i) for i in range(calls)]
    return asyncio.run(drive(port, work, concurrency))


def line(name: str, result: Result) -> str:
    return (
        f"{name:<22} {result.per_second:>9.0f} req/s   p50 {result.percentile(0.5) * 1000:6.2f} ms"
        f"   p99 {result.percentile(0.99) * 1000:6.2f} ms   errors {result.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="calls (3 webhooks each)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", choices=["webhooks", "assignment"], default=None)
    args = parser.parse_args()
    if args.only != "assignment":
        bench_webhooks(args.calls, args.concurrency)
    if args.only != "webhooks":
        bench_assignment()


def bench_assignment() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            result = asyncio.run(measure_assignment(redis_server.url))
        finally:
            redis_server.stop()
    trip = result.p(result.round_trips, 0.5)
    print(
        f"\nassignment: {result.calls} waiting calls, {QUEUES} queues, {result.handlers} handlers, "
        f"{result.assignments} assignments"
    )
    print(f"  assignments per second      {result.assignments / result.elapsed:9.0f}")
    p50, p99 = result.p(result.latencies, 0.5), result.p(result.latencies, 0.99)
    print(f"  one assignment p50 / p99    {p50 * 1e3:6.3f} / {p99 * 1e3:6.3f} ms")
    print(f"  one Redis round trip p50    {trip * 1e3:6.3f} ms")
    print(f"  p99 assignment / round trip {p99 / trip:6.1f}x")


def bench_webhooks(calls: int, concurrency: int) -> None:

    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        web_port, static_port = free_port(), free_port()
        public_base = f"http://127.0.0.1:{web_port}"
        env = os.environ | {
            "REDIS_URL": redis_server.url,
            "PUBLIC_BASE_URL": public_base,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
            "AMBULANCE_DISPATCH_NUMBER": "+441632960999",
            "LOG_LEVEL": "WARNING",
        }
        servers = [
            serve(["--factory", "lifeline.app:app_from_environment"], web_port, env),
            serve(["--factory", "tests.bench.static_app:app"], static_port, env),
        ]
        try:
            static = measure(static_port, calls, concurrency, public_base)
            lifeline = measure(web_port, calls, concurrency, public_base)
        finally:
            for server in servers:
                server.terminate()
                server.wait()
            redis_server.stop()

    print(f"{calls} calls x 3 signed webhooks, {concurrency} connections")
    print(line("static TwiML baseline", static))
    print(line("Lifeline webhooks", lifeline))
    print(f"throughput ratio (Lifeline / baseline): {lifeline.per_second / static.per_second:.2f}")
    if lifeline.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
