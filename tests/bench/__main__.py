"""`make bench`: Lifeline's webhooks under uvicorn against a real Redis, beside a static baseline
and a lean floor (the form, the signature and one Lua call: what every webhook must do).

All three servers run with the same uvicorn settings (one worker, httptools, uvloop, no access
log), take the same signed requests, and are measured in the same run; the ratios are what matter.
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
import redis.asyncio

from lifeline.redis_server import RedisServer, free_port
from tests.bench import neighbours, recording, simulate
from tests.bench.assignment import QUEUES, measure_assignment
from tests.bench.callbacks import measure_callbacks, measure_latency
from tests.bench.floor import run as run_floor
from tests.bench.load import Result, call_requests, drive
from tests.bench.onward import measure_onward
from tests.bench.outage import REPLAY_PER_SECOND, measure_outage

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
    parser.add_argument(
        "--only",
        choices=[
            "webhooks",
            "assignment",
            "floor",
            "callbacks",
            "outage",
            "neighbours",
            "onward",
            "recording",
            "simulate",
            "simulate-national",
        ],
        default=None,
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="neighbours: connections measured per load"
    )
    parser.add_argument(
        "--per-round", type=int, default=5, help="neighbours: emergencies after each connection"
    )
    args = parser.parse_args()
    if args.only in (None, "webhooks"):
        bench_webhooks(args.calls, args.concurrency)
    if args.only in (None, "assignment"):
        bench_assignment()
    if args.only in (None, "floor"):
        bench_floor()
    if args.only in (None, "callbacks"):
        bench_callbacks()
    if args.only in (None, "outage"):
        bench_outage()
    if args.only in (None, "neighbours"):
        bench_neighbours(args.rounds, args.per_round)
    if args.only in (None, "onward"):
        bench_onward()
    if args.only in (None, "recording"):
        bench_recording()
    if args.only in (None, "simulate"):
        simulate.run(["contract"])
    if args.only in (None, "simulate-national"):
        simulate.run(["national"])


def bench_onward() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            result = measure_onward(redis_server.url, Path(scratch))
            trip = asyncio.run(round_trip(redis_server.url))
        finally:
            redis_server.stop()
    connect, send_on = sorted(result.connect), sorted(result.send_on)
    print(f"\nonward: {len(send_on)} callers put through, then sent on to the clinicians' queue")
    for name, values in (("put through (baseline)", connect), ("sent on", send_on)):
        print(
            f"  {name:<24} p50 {values[len(values) // 2] * 1e3:6.1f} ms   "
            f"max {values[-1] * 1e3:6.1f} ms"
        )
    ratio = send_on[len(send_on) // 2] / connect[len(connect) // 2]
    print(f"  sent on / put through, p50: {ratio:.2f}; one Redis round trip {trip * 1e3:.2f} ms")


def bench_recording() -> None:
    runs = {False: recording.Timings(), True: recording.Timings()}
    for on in (False, True, False, True):
        with tempfile.TemporaryDirectory() as scratch:
            redis_server = RedisServer(Path(scratch) / "redis")
            redis_server.start()
            try:
                recording.measure(redis_server.url, Path(scratch), on, runs[on])
            finally:
                redis_server.stop()
    off, on_ = runs[False], runs[True]
    print(
        f"\nrecording and feedback: {len(on_.by_kind['dial-action'])} callers put through and "
        f"hung up on by their handler, each way ({on_.recorded} recorded, {on_.asked} asked)"
    )
    for kind in ("redirect", "dial-action"):
        before, after = sorted(off.by_kind[kind]), sorted(on_.by_kind[kind])
        median = (before[len(before) // 2], after[len(after) // 2])
        print(
            f"  {kind:<12} off p50 {median[0]:6.1f} ms max {before[-1]:6.1f} ms   "
            f"on p50 {median[1]:6.1f} ms max {after[-1]:6.1f} ms   on/off p50 "
            f"{median[1] / median[0]:.2f}"
        )
    told = sorted(on_.by_kind["recording-status"])
    print(f"  recording status callback: p50 {told[len(told) // 2]:.1f} ms, max {told[-1]:.1f} ms")


def bench_neighbours(rounds: int, per_round: int) -> None:
    print(
        f"\nnoisy neighbours: per load, {rounds} rounds of one connection then {per_round}"
        " emergencies; p50 and p99, and p99 against idle's"
    )
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            phases = neighbours.run(redis_server.url, Path(scratch), rounds, per_round)
        finally:
            redis_server.stop()
    neighbours.report(phases)
    # An emergency not put through to dispatch is a failure, not a figure.
    if any(p.not_dispatch or p.answer_timeouts or p.safe_routes for p in phases):
        sys.exit(1)


def bench_callbacks() -> None:
    print("\ncallbacks: placed per second against the shared calls-per-second limit")
    runs = ((1, 1.0, 8), (4, 1.0, 8), (4, 5.0, 30), (4, 50.0, 40))
    for workers, limit, count in runs:
        with tempfile.TemporaryDirectory() as scratch:
            redis_server = RedisServer(Path(scratch) / "redis")
            redis_server.start()
            try:
                result = measure_callbacks(redis_server.url, Path(scratch), workers, limit, count)
            finally:
                redis_server.stop()
        print(
            f"  {workers} worker(s), limit {limit:>4g}/s: {len(result.placed_at)}/{count} placed, "
            f"{result.per_second:5.2f}/s ({result.per_second / limit:4.2f} of the limit), "
            f"busiest second {result.busiest_second}, "
            f"closest two {result.closest * 1e3:.0f} ms (spacing {1e3 / limit:.0f} ms)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            latencies = sorted(measure_latency(redis_server.url, Path(scratch)))
            trip = asyncio.run(round_trip(redis_server.url))
        finally:
            redis_server.stop()
    print(
        f"  a handler comes free -> their callback's call reaches the network: "
        f"p50 {latencies[len(latencies) // 2] * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms "
        f"({latencies[len(latencies) // 2] / trip:.0f} Redis round trips of {trip * 1e3:.2f} ms)"
    )


async def round_trip(url: str) -> float:
    client = redis.asyncio.Redis.from_url(url)
    try:
        samples = []
        for _ in range(200):
            started = time.perf_counter()
            await client.ping()
            samples.append(time.perf_counter() - started)
        return sorted(samples)[100]
    finally:
        await client.aclose()


def bench_outage() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            result = measure_outage(redis_server.url, Path(scratch))
        finally:
            redis_server.stop()
    print("\noutage: detection and replay")
    print(
        f"  time to degraded mode        {result.detection:5.1f} s "
        f"(floor: {result.detection_floor:.0f} s = K-1 probe intervals after the first failure)"
    )
    print(f"  time back to normal          {result.recovery:5.1f} s (M healthy probes over T)")
    print(
        f"  journal replay               {result.entries} entries in "
        f"{result.replay_seconds:.1f} s: {result.replay_per_second:5.1f}/s "
        f"({result.replay_per_second / REPLAY_PER_SECOND:4.2f} of REPLAY_PER_SECOND="
        f"{REPLAY_PER_SECOND}); all replayed {result.until_replayed:.1f} s after normal mode"
    )
    print(
        f"  same stub, bundles posted directly: {result.direct_per_second:5.1f}/s; "
        f"ratio {result.replay_per_second / result.direct_per_second:4.2f}"
    )


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


def bench_floor() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        try:
            asyncio.run(run_floor(redis_server.url))
        finally:
            redis_server.stop()


def bench_webhooks(calls: int, concurrency: int) -> None:

    with tempfile.TemporaryDirectory() as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        web_port, static_port, lean_port = free_port(), free_port(), free_port()
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
        apps = {
            "lifeline.app:app_from_environment": web_port,
            "tests.bench.static_app:app": static_port,
            "tests.bench.lean_app:app": lean_port,
        }
        servers: list[subprocess.Popen[bytes]] = []
        try:  # a server that does not start stops the others and Redis too
            for app, port in apps.items():
                servers.append(serve(["--factory", app], port, env))
            static = measure(static_port, calls, concurrency, public_base)
            lean = measure(lean_port, calls, concurrency, public_base)
            lifeline = measure(web_port, calls, concurrency, public_base)
            trip = asyncio.run(round_trip(redis_server.url))
        finally:
            for server in servers:
                server.terminate()
                server.wait()
            redis_server.stop()

    print(f"{calls} calls x 3 signed webhooks, {concurrency} connections")
    print(line("static TwiML baseline", static))
    print(line("lean floor", lean))
    print(line("Lifeline webhooks", lifeline))
    print(f"throughput ratio (Lifeline / baseline): {lifeline.per_second / static.per_second:.2f}")
    print(
        f"lean floor (form, signature, one Lua call) / baseline: "
        f"{lean.per_second / static.per_second:.2f}; "
        f"Lifeline / lean floor: {lifeline.per_second / lean.per_second:.2f}"
    )
    # Each server is one CPU-bound process: 1 / throughput is the CPU time of one request.
    static_cost, lifeline_cost = 1 / static.per_second, 1 / lifeline.per_second
    print(
        f"time per request: static {static_cost * 1e6:.0f} us,"
        f" lean floor {1e6 / lean.per_second:.0f} us,"
        f" Lifeline {lifeline_cost * 1e6:.0f} us;"
        f" one Redis round trip from an asyncio client {trip * 1e6:.0f} us"
        f" ({trip / static_cost:.1f} static requests)"
    )
    if lifeline.errors or lean.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
