"""The floor's invariants under any order of events (a hypothesis state machine): callers arriving
with any facts, webhooks repeated and late, handlers changing state at any moment, offers
answered, missed and lost, callbacks booked, made, failed, cancelled and re-prioritised, rule sets
that drop and change queues and skills, degraded mode, sweeps and time. The events go through
the webhooks, the API and the sweep, on a real Redis and a virtual clock; after every step the
invariants are read from Redis and the statistics compared with the model's own count."""

from __future__ import annotations

import os
from typing import Any

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from lifeline.app import create_app
from routing.clock import VirtualClock
from routing.rules import default_rules
from tests.conftest import AUTH_TOKEN, MAIN_LINE, PUBLIC_BASE_URL, WELSH_LINE
from tests.console.test_api import RULES, Api, token_for
from tests.floor import (
    KINDS,
    Floor,
    Snapshot,
    order_problems,
    problems,
    snapshot,
)
from tests.twilio import TwilioClient

HANDLERS: dict[str, dict[str, int]] = {
    "h1": {},
    "h2": {"dental": 3, "clinical": 3},
    "h3": {"welsh": 3, "mental_health": 3},
    "h4": {"dental": 3, "clinical": 3, "welsh": 3, "mental_health": 3},
}
EXAMPLES = int(os.environ.get("FLOOR_EXAMPLES", "25"))
STEPS = int(os.environ.get("FLOOR_STEPS", "50"))


def variants() -> dict[str, dict[str, Any]]:
    """Rule sets a supervisor might activate: each drops, renames or re-skills queues."""
    packaged = default_rules().model_dump(mode="json")

    def changed(edit: Any) -> dict[str, Any]:
        document = default_rules().model_dump(mode="json")
        edit(document)
        return document

    def drop_dental(rules: dict[str, Any]) -> None:
        del rules["queues"]["dental"]
        for route in rules["routes"]:
            if route["queue"] == "dental":
                route["queue"] = "general"

    def rename_dental(rules: dict[str, Any]) -> None:
        rules["queues"]["teeth"] = rules["queues"].pop("dental")
        for route in rules["routes"]:
            if route["queue"] == "dental":
                route["queue"], route["priority"] = "teeth", 3

    def clinical_needs_welsh(rules: dict[str, Any]) -> None:
        rules["queues"]["clinical"]["skills"] = ["clinical", "welsh"]
        rules["queues"]["mental_health"]["min_proficiency"] = 4
        rules["aging"] = {"every_seconds": 60, "max_steps": 3}

    def one_queue(rules: dict[str, Any]) -> None:
        for name in ("clinical", "mental_health", "dental", "welsh"):
            del rules["queues"][name]
        for route in rules["routes"]:
            if route["queue"] != "emergency":
                route["queue"] = "general"

    return {
        "packaged": packaged,
        "drop_dental": changed(drop_dental),
        "rename_dental": changed(rename_dental),
        "clinical_needs_welsh": changed(clinical_needs_welsh),
        "one_queue": changed(one_queue),
    }


VARIANTS = variants()
SWARM = [
    "a_dial_result_comes_again",
    "a_queued_caller_holds",
    "a_caller_hangs_up",
    "a_status_callback_comes_again",
    "the_connect_job_redirects_a_caller",
    "the_handler_answers",
    "the_handler_does_not_answer",
    "a_conversation_ends",
    "the_number_dialled_answers_or_not",
    "a_callback_is_placed",
    "a_handler_changes_state",
    "a_console_closes",
    "a_handler_wraps_up",
    "a_supervisor_changes_a_callback",
    "a_rule_set_is_activated",
    "the_mode_is_forced",
    "the_sweep_runs",
]


def machine(redis_url: str, app_settings: Settings) -> type[RuleBasedStateMachine]:
    class FloorMachine(RuleBasedStateMachine):
        """One afternoon on the floor, in any order."""

        def __init__(self) -> None:
            super().__init__()
            sync = redis.Redis.from_url(redis_url, decode_responses=True)
            sync.flushall()
            self.clock = VirtualClock()
            self.client = TestClient(create_app(app_settings, clock=self.clock))
            self.client.__enter__()
            twilio = TwilioClient(self.client, AUTH_TOKEN, PUBLIC_BASE_URL)
            api = Api(self.client, token_for(redis_url, Role.SUPERVISOR, scopes=RULES))
            self.floor = Floor(self.client, twilio, api, sync, self.clock, redis_url)
            self.numbers = 0
            self.last: Snapshot | None = None
            self.consoles: set[str] = set()  # open consoles send heartbeats while time passes
            self.disabled: frozenset[str] = frozenset()
            self.touched: set[str] = set()  # handlers whose state the model chose this step

        def on(self, name: str) -> bool:
            return name not in self.disabled

        def teardown(self) -> None:
            self.client.__exit__(None, None, None)
            self.floor.sync.close()

        @initialize(data=st.data())
        def staff_the_floor(self, data: st.DataObject) -> None:
            # Swarm testing: each example leaves some kinds of event out, so that the others
            # pile up into the states where defects hide.
            self.disabled = frozenset(data.draw(st.sets(st.sampled_from(SWARM), max_size=12)))
            for handler, skills in HANDLERS.items():
                self.floor.api.send(
                    "POST",
                    "/api/v1/handlers",
                    {
                        "id": handler,
                        "name": handler.upper(),
                        "skills": skills,
                        "device": {"kind": "client", "address": handler},
                    },
                    status=201,
                )
            for handler in ("h1", "h2"):  # two on the floor from the start
                self.floor.handler_chooses(handler, "available")
                self.consoles.add(handler)
            self.last = snapshot(self.floor.sync)

        def callers_in(self, *phases: str) -> list[str]:
            return sorted(s for s, c in self.floor.callers.items() if c.phase in phases)

        # Callers.

        @rule(
            arrivals=st.lists(
                st.tuples(st.sampled_from([*sorted(KINDS), "dental", "medical"]), st.booleans()),
                min_size=1,
                max_size=4,
            )
        )
        def callers_arrive(self, arrivals: list[tuple[str, bool]]) -> None:
            """One to four calls at once, each of any kind, some from a number heard before."""
            for kind, again in arrivals:
                earlier = sorted({c.call.caller for c in self.floor.callers.values()})
                if again and earlier:
                    number = earlier[self.numbers % len(earlier)]
                else:
                    self.numbers += 1
                    number = f"+4477009{self.numbers:05d}"
                line = WELSH_LINE if kind == "welsh" else MAIN_LINE
                self.floor.arrive(number, line, kind)
                self.the_floor_holds()  # each call's offers, before the next call comes

        @precondition(
            lambda self: self.on("a_queued_caller_holds") and bool(self.callers_in("queued"))
        )
        @rule(data=st.data(), accept=st.booleans())
        def a_queued_caller_holds(self, data: st.DataObject, accept: bool) -> None:
            sid = data.draw(st.sampled_from(self.callers_in("queued")))
            self.floor.hold(self.floor.callers[sid], accept_callback=accept)

        @precondition(
            lambda self: (
                self.on("a_caller_hangs_up")
                and bool(self.callers_in("ivr", "queued", "connecting", "talking"))
            )
        )
        @rule(data=st.data())
        def a_caller_hangs_up(self, data: st.DataObject) -> None:
            phases = ("ivr", "queued", "connecting", "talking", "dialled")
            sid = data.draw(st.sampled_from(self.callers_in(*phases)))
            self.floor.hang_up(self.floor.callers[sid])

        @precondition(
            lambda self: self.on("a_status_callback_comes_again") and bool(self.floor.callers)
        )
        @rule(data=st.data(), status=st.sampled_from(["ringing", "in-progress", "completed"]))
        def a_status_callback_comes_again(self, data: st.DataObject, status: str) -> None:
            """Repeated and out of order: a final one only for a call that has ended."""
            sid = data.draw(st.sampled_from(sorted(self.floor.callers)))
            caller = self.floor.callers[sid]
            if status == "completed" and caller.phase != "ended":
                status = "in-progress"
            assert caller.call.status(status).status_code == 200

        @precondition(
            lambda self: (
                self.on("a_dial_result_comes_again")
                and any(c.last_dial for c in self.floor.callers.values())
            )
        )
        @rule(data=st.data())
        def a_dial_result_comes_again(self, data: st.DataObject) -> None:
            sid = data.draw(
                st.sampled_from(sorted(s for s, c in self.floor.callers.items() if c.last_dial))
            )
            self.floor.dial_result_again(self.floor.callers[sid])

        # The workers and Twilio: offers.

        @precondition(
            lambda self: self.on("the_connect_job_redirects_a_caller") and bool(self.floor.offers())
        )
        @rule(data=st.data(), late=st.booleans())
        def the_connect_job_redirects_a_caller(self, data: st.DataObject, late: bool) -> None:
            calls = [o for o in self.floor.offers() if not o[0].startswith("cb:")]
            calls = [o for o in calls if o[0] in self.floor.callers]
            if not calls:
                return
            member, handler, offer = data.draw(st.sampled_from(calls))
            caller = self.floor.callers[member]
            if caller.phase in ("queued", "connecting"):
                self.floor.redirected(caller, handler, offer - 1 if late else offer)

        @precondition(
            lambda self: self.on("the_handler_answers") and bool(self.callers_in("connecting"))
        )
        @rule(data=st.data())
        def the_handler_answers(self, data: st.DataObject) -> None:
            sid = data.draw(st.sampled_from(self.callers_in("connecting")))
            self.floor.handler_answers(self.floor.callers[sid])

        @precondition(
            lambda self: (
                self.on("the_handler_does_not_answer") and bool(self.callers_in("connecting"))
            )
        )
        @rule(data=st.data(), status=st.sampled_from(["no-answer", "busy", "failed"]))
        def the_handler_does_not_answer(self, data: st.DataObject, status: str) -> None:
            sid = data.draw(st.sampled_from(self.callers_in("connecting")))
            self.floor.dial_ends(self.floor.callers[sid], status)

        @precondition(
            lambda self: self.on("a_conversation_ends") and bool(self.callers_in("talking"))
        )
        @rule(data=st.data())
        def a_conversation_ends(self, data: st.DataObject) -> None:
            sid = data.draw(st.sampled_from(self.callers_in("talking")))
            self.floor.dial_ends(self.floor.callers[sid], "completed")

        @precondition(
            lambda self: (
                self.on("the_number_dialled_answers_or_not") and bool(self.callers_in("dialled"))
            )
        )
        @rule(data=st.data(), status=st.sampled_from(["completed", "no-answer", "busy"]))
        def the_number_dialled_answers_or_not(self, data: st.DataObject, status: str) -> None:
            sid = data.draw(st.sampled_from(self.callers_in("dialled")))
            self.floor.dial_ends(self.floor.callers[sid], status)

        @precondition(
            lambda self: (
                self.on("a_callback_is_placed")
                and bool(any(o[0].startswith("cb:") for o in self.floor.offers()))
            )
        )
        @rule(
            data=st.data(),
            outcome=st.sampled_from(["reached", "not_reached", "handler_missed"]),
        )
        def a_callback_is_placed(self, data: st.DataObject, outcome: str) -> None:
            offers = [o for o in self.floor.offers() if o[0].startswith("cb:")]
            member, handler, offer = data.draw(st.sampled_from(offers))
            self.floor.callback_leg(member.removeprefix("cb:"), handler, offer, outcome)

        # Handlers and supervisors.

        @precondition(lambda self: self.on("a_handler_changes_state"))
        @rule(
            handler=st.sampled_from(sorted(HANDLERS)),
            state=st.sampled_from(["available", "available", "break", "offline"]),
        )
        def a_handler_changes_state(self, handler: str, state: str) -> None:
            self.touched.add(handler)
            self.floor.handler_chooses(handler, state)

        @rule(handler=st.sampled_from(sorted(HANDLERS)))
        def a_console_opens(self, handler: str) -> None:
            self.consoles.add(handler)
            self.floor.heartbeat(handler)

        @precondition(lambda self: self.on("a_console_closes"))
        @rule(handler=st.sampled_from(sorted(HANDLERS)))
        def a_console_closes(self, handler: str) -> None:
            """The browser is closed: no more heartbeats (the sweep takes them off the floor)."""
            self.consoles.discard(handler)

        @precondition(lambda self: self.on("a_handler_wraps_up"))
        @rule(handler=st.sampled_from(sorted(HANDLERS)), available=st.booleans())
        def a_handler_wraps_up(self, handler: str, available: bool) -> None:
            self.touched.add(handler)
            self.floor.wrap_up(handler, available)

        @precondition(lambda self: self.on("a_supervisor_changes_a_callback"))
        @rule(data=st.data(), cancel=st.booleans(), priority=st.integers(2, 5))
        def a_supervisor_changes_a_callback(
            self, data: st.DataObject, cancel: bool, priority: int
        ) -> None:
            ids = self.floor.callback_ids()
            if not ids:
                return
            callback_id = data.draw(st.sampled_from(ids))
            self.floor.change_callback(callback_id, cancel, priority)

        @precondition(lambda self: self.on("a_rule_set_is_activated"))
        @rule(variant=st.sampled_from(sorted(VARIANTS)))
        def a_rule_set_is_activated(self, variant: str) -> None:
            self.floor.activate(VARIANTS[variant])

        @precondition(lambda self: self.on("the_mode_is_forced"))
        @rule(mode=st.sampled_from(["degraded", "auto"]))
        def the_mode_is_forced(self, mode: str) -> None:
            self.floor.api.send("PUT", "/api/v1/mode", {"mode": mode, "reason": "drill"})

        # Time and the periodic sweep.

        @precondition(lambda self: self.on("the_sweep_runs"))
        @rule()
        def the_sweep_runs(self) -> None:
            self.floor.sweep()

        @rule(seconds=st.sampled_from([1, 5, 20, 31, 61, 301, 900]))
        def time_passes(self, seconds: int) -> None:
            self.clock.advance(seconds)
            for handler in sorted(self.consoles):  # they were there all along
                self.floor.heartbeat(handler)

        # After every step.

        @invariant()
        def the_floor_holds(self) -> None:
            if self.last is None:
                return
            now = snapshot(self.floor.sync)
            assert problems(now) == []
            assert order_problems(self.last, now, self.clock.now()) == []
            assert self.floor.arrival_problems(now) == []
            assert self.rest_problems(self.last, now) == []
            self.last, self.touched = now, set()

        def rest_problems(self, before: Snapshot, after: Snapshot) -> list[str]:
            """A break the handler chose, or being offline, ends only by their own choice (a
            missed offer's rest ends by itself; a lost console takes anyone offline)."""
            found = []
            for handler, fields in before.handlers.items():
                was, reason = fields.get("state"), fields.get("reason")
                now = after.handlers.get(handler, {}).get("state")
                resting = was == "offline" or (was == "break" and reason != "missed")
                if resting and now not in (was, "offline") and handler not in self.touched:
                    found.append(f"{handler} was {was} ({reason}), now {now} by nobody's choice")
            return found

        @invariant()
        def the_statistics_count_what_happened(self) -> None:
            if self.last is None:
                return
            assert self.floor.statistics_problems() == []

    return FloorMachine


def test_the_floor_holds_its_invariants_under_any_order_of_events(
    redis_url: str, settings: Settings
) -> None:
    run_state_machine_as_test(
        machine(redis_url, settings),
        settings=settings_for_the_model(),
    )


def settings_for_the_model() -> settings:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
