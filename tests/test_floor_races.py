"""The floor's invariants when several processes act on it at once: each OS process runs its own
Lifeline (webhooks, API, sweep) against one Redis and fires random floor events for a while; at
quiet moments (every process paused) and at the end the invariants are read from Redis, and the
statistics must equal what the processes saw, added up."""

from __future__ import annotations

import asyncio
import faulthandler
import multiprocessing
import os
import random
import threading
import time
from typing import Any

import redis
from starlette.testclient import TestClient

from console.tokens import Role
from lifeline.app import create_app
from tests.conftest import AUTH_TOKEN, MAIN_LINE, PUBLIC_BASE_URL, WELSH_LINE, make_settings
from tests.console.test_api import RULES, Api, token_for
from tests.floor import KINDS, Caller, Floor, arrival_problems, problems, snapshot
from tests.test_floor_model import HANDLERS, VARIANTS
from tests.twilio import TwilioClient

PROCESSES = 3
ROUNDS = int(os.environ.get("FLOOR_RACE_ROUNDS", "3"))
ROUND_SECONDS = float(os.environ.get("FLOOR_RACE_SECONDS", "3"))
SPEED = 60.0  # virtual seconds per real second: offers time out, consoles go quiet, calls age


class SharedClock:
    """One virtual clock for every process: a fixed start, running SPEED times real time."""

    def __init__(self, started: float) -> None:
        self.started = started

    def now(self) -> float:
        return 1_767_225_600.0 + (time.time() - self.started) * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / SPEED)


def fire(floor: Floor, chance: random.Random, name: str, numbers: list[int]) -> None:
    """One random event from this process."""
    mine = floor.callers
    by_phase: dict[str, list[str]] = {}
    for call_sid, caller in mine.items():
        by_phase.setdefault(caller.phase, []).append(call_sid)

    def some(*phases: str) -> str | None:
        sids = sorted(s for p in phases for s in by_phase.get(p, []))
        return chance.choice(sids) if sids else None

    event = chance.choice(
        ["arrive"] * 4
        + ["hold", "hang_up", "redirect", "answer", "miss", "talk_ends", "number_ends"]
        + ["callback", "state", "state", "heartbeat", "wrap_up", "sweep", "sweep", "activate"]
    )
    phases = {
        "hold": ("queued",),
        "hang_up": ("ivr", "queued", "connecting", "talking"),
        "answer": ("connecting",),
        "miss": ("connecting",),
        "talk_ends": ("talking",),
        "number_ends": ("dialled",),
    }
    if event in phases:
        chosen = some(*phases[event])
        if chosen is not None:
            act_on(floor, chance, event, mine[chosen])
    elif event == "arrive":
        kind = chance.choice(sorted(KINDS))
        numbers[0] += 1
        number = f"+44770{name}{numbers[0] % 10000:04d}"
        floor.arrive(number, WELSH_LINE if kind == "welsh" else MAIN_LINE, kind, prefix=name)
    elif event == "redirect":
        offers = [o for o in floor.offers() if o[0] in mine and mine[o[0]].phase == "queued"]
        if offers:
            member, handler, offer = chance.choice(offers)
            floor.redirected(mine[member], handler, offer)
    elif event == "callback":
        offers = [o for o in floor.offers() if o[0].startswith("cb:")]
        if offers:
            member, handler, offer = chance.choice(offers)
            outcome = chance.choice(["reached", "not_reached", "handler_missed"])
            floor.callback_leg(member.removeprefix("cb:"), handler, offer, outcome)
    elif event == "state":
        handler = chance.choice(sorted(HANDLERS))
        floor.handler_chooses(handler, chance.choice(["available", "available", "break"]))
    elif event == "heartbeat":
        for handler in sorted(HANDLERS):
            floor.heartbeat(handler)
    elif event == "wrap_up":
        floor.wrap_up(chance.choice(sorted(HANDLERS)), available=True)
    elif event == "sweep":
        floor.sweep()
    elif event == "activate" and chance.random() < 0.3:
        floor.activate(VARIANTS[chance.choice(sorted(VARIANTS))])


def act_on(floor: Floor, chance: random.Random, event: str, caller: Caller) -> None:
    if event == "hold":
        floor.hold(caller, accept_callback=chance.random() < 0.3)
    elif event == "hang_up":
        floor.hang_up(caller)
    elif event == "answer":
        floor.handler_answers(caller)
    elif event == "miss":
        floor.dial_ends(caller, chance.choice(["no-answer", "busy", "failed"]))
    elif event == "talk_ends":
        floor.dial_ends(caller, "completed")
    elif event == "number_ends":
        floor.dial_ends(caller, chance.choice(["completed", "no-answer"]))


def race(redis_url: str, name: str, started: float, go: Any, paused: Any) -> dict[str, Any]:
    """A process of its own: its own Lifeline, its own callers, the floor shared."""
    # One stuck past the parent's patience says where, on the test's output, before it gives up.
    faulthandler.dump_traceback_later(100, exit=False)
    chance = random.Random(name)
    clock = SharedClock(started)
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    with TestClient(create_app(make_settings(redis_url), clock=clock)) as client:
        twilio = TwilioClient(client, AUTH_TOKEN, PUBLIC_BASE_URL)
        api = Api(client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
        floor = Floor(client, twilio, api, sync, clock, redis_url)
        numbers = [0]
        fired = 0
        for _ in range(ROUNDS):
            go.wait()
            deadline = time.monotonic() + ROUND_SECONDS
            while time.monotonic() < deadline:
                fire(floor, chance, name, numbers)
                fired += 1
            paused.wait()  # a quiet moment: the parent checks the floor
        expected = floor.expected
    sync.close()
    faulthandler.cancel_dump_traceback_later()
    return {
        "fired": fired,
        "outcomes": expected.outcomes,
        "offered": sorted(expected.offered),
    }


def test_processes_racing_on_one_floor_keep_its_invariants(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    started = time.time()
    with TestClient(create_app(make_settings(redis_url), clock=SharedClock(started))) as client:
        api = Api(client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
        for handler, skills in HANDLERS.items():
            device = {"kind": "client", "address": handler}
            body = {"id": handler, "name": handler, "skills": skills, "device": device}
            api.send("POST", "/api/v1/handlers", body, status=201)
            api.send("PUT", f"/api/v1/handlers/{handler}/state", {"state": "available"})
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        go, paused = manager.Barrier(PROCESSES + 1), manager.Barrier(PROCESSES + 1)
        with context.Pool(PROCESSES) as pool:
            jobs = [
                pool.apply_async(race, (redis_url, f"{n}", started, go, paused))
                for n in range(1, PROCESSES + 1)
            ]
            arrivals: dict[str, float] = {}
            for round_ in range(ROUNDS):
                try:
                    go.wait(timeout=120)
                    paused.wait(timeout=120)
                except threading.BrokenBarrierError:
                    for job in jobs:  # a process that failed says why (its error is raised)
                        if job.ready():
                            job.get()
                    raise
                floor = snapshot(sync)
                found = problems(floor) + arrival_problems(floor, arrivals)
                assert found == [], f"after round {round_ + 1}: {found}"
            results = [job.get(timeout=120) for job in jobs]
    assert all(result["fired"] > 10 for result in results)  # every process really did race
    outcomes = [o for result in results for o in result["outcomes"].values()]
    with TestClient(create_app(make_settings(redis_url), clock=SharedClock(started))) as client:
        api = Api(client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
        total = api.get("/api/v1/stats?window=today")
    kinds = ("answered", "abandoned", "dispatched", "diverted")
    counted = {name: total["total"][name] for name in kinds} | {"terminated": total["terminated"]}
    seen = {name: outcomes.count(name) for name in (*kinds, "terminated")}
    assert counted == seen
    assert total["total"]["offered"] == sum(len(result["offered"]) for result in results)
    sync.close()
