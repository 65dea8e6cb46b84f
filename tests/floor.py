"""The floor, driven from outside and checked from Redis alone: the callers as Twilio follows their
TwiML, the handlers and supervisors through the API, the workers' sweep; and the invariants that
must hold whatever happened (read from Redis, with the model's own expectations beside them)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio
import yaml
from starlette.testclient import TestClient

from routing import keys
from routing.audit import Audit
from routing.callbacks import AT_RISK_SHIFT_MS
from routing.clock import Clock
from routing.rulebook import RuleBook
from routing.rules import RuleSet, parse_rules
from routing.sweeps import sweep_floor
from tests.conftest import DISPATCH
from tests.console.test_api import Api
from tests.twilio import WAIT_URL_VERBS, Call, TwilioClient, Twiml

STEP = 10**13  # a queue score: priority * STEP + arrival in milliseconds
LIVE_CALLBACK = ("pending", "reserved", "scheduled", "connected")

# What each kind of caller answers at each question (absent: the default below; "" is silence).
KINDS: dict[str, dict[str, str]] = {
    "emergency": {"emergency": "1"},
    "medical": {"reason": "1"},
    "mental_health": {"reason": "2"},
    "dental": {"reason": "3"},
    "medicines": {"reason": "4"},
    "existing_case": {"reason": "5"},
    "silent": {"emergency": "", "reason": ""},
    "worse": {"reason": "1", "worse": "1", "callback_existing": "2"},
    "welsh": {"language": "1", "reason": "1"},
    "cancels_callback": {"callback_existing": "3", "reason": "1"},
}
DEFAULT_KEYS = {
    "language": "2",
    "emergency": "2",
    "reason": "1",
    "worse": "2",
    "callback_existing": "1",
    "callback_confirm": "1",
}


@dataclass
class Caller:
    """One patient's call as Twilio sees it: the TwiML it is executing, and where that puts it."""

    call: Call
    phase: str = "ivr"  # ivr, queued, connecting, talking, dialled, ended
    enqueue: Twiml | None = None  # the <Enqueue> the caller waits in
    connect: Twiml | None = None  # the <Dial> to a handler, or to a number
    outcome: str = ""  # the model's own: terminated, answered, abandoned, dispatched, callback...
    offered: bool = False  # entered a queue (the IVR placed them)
    turn: int = 0
    last_dial: tuple[str, dict[str, str]] | None = None  # the last <Dial> result posted


@dataclass
class Expected:
    """What the model itself did, counted as it went (never read back from Lifeline)."""

    outcomes: dict[str, str] = field(default_factory=dict)  # CallSid -> its wait's last ending
    offered: set[str] = field(default_factory=set)
    booked: int = 0
    made: int = 0
    arrivals: dict[str, float] = field(default_factory=dict)  # member -> arrival, once seen


class Floor:
    """Everything the model does goes through here: the entry points Twilio, the consoles and
    the workers use (signed webhooks, the JSON API, the sweep job's use case)."""

    def __init__(
        self,
        client: TestClient,
        twilio: TwilioClient,
        api: Api,
        sync: redis.Redis,
        clock: Clock,
        redis_url: str,
    ) -> None:
        self.client = client
        self.twilio = twilio
        self.api = api
        self.sync = sync
        self.clock = clock
        self.redis_url = redis_url
        self.callers: dict[str, Caller] = {}
        self.expected = Expected()

    # Callers.

    def arrive(self, number: str, line: str, kind: str, prefix: str = "0") -> Caller:
        # CallSids in order of arrival: the same choices make the same floor, run after run
        # (and a hex digit of each process's own, when several share the floor).
        sid = f"CA{prefix}{len(self.callers) + 1:031x}"
        caller = Caller(self.twilio.call(number, line, sid))
        self.callers[caller.call.sid] = caller
        self.follow(caller, caller.call.start(), KINDS[kind])
        return caller

    def follow(self, caller: Caller, twiml: Twiml, script: dict[str, str]) -> None:
        """Do what Twilio would with the caller's TwiML, up to the next outside event."""
        for _ in range(20):
            if twiml.has("Gather") and "/twilio/ivr/" in twiml.first("Gather").get("action", ""):
                action = twiml.first("Gather").get("action", "")
                step = urlsplit(action).path.rsplit("/", 1)[-1]
                key = script.get(step, DEFAULT_KEYS.get(step, ""))
                twiml = caller.call.press(twiml, key) if key else caller.call.silence(twiml)
                continue
            if twiml.has("Gather") and "/twilio/retry" in twiml.first("Gather").get("action", ""):
                # Routed safely while the call could not be queued (its queue went in two rule
                # changes in a row, or Redis failed): the caller stays on the line, and the
                # retry places them again.
                twiml = caller.call.silence(twiml)
                continue
            if twiml.verbs == ["Leave"] and caller.enqueue is not None:
                twiml = caller.call.leave_queue(caller.enqueue, "leave")
                continue
            break
        else:
            raise AssertionError(f"the IVR went round in circles: {twiml.xml}")
        self.land(caller, twiml)

    def land(self, caller: Caller, twiml: Twiml) -> None:
        """Where a document leaves the caller."""
        sid = caller.call.sid
        from_ivr = caller.phase == "ivr"
        if twiml.has("Enqueue"):
            caller.phase, caller.enqueue, caller.connect = "queued", twiml, None
            if from_ivr:
                self.expected.offered.add(sid)
        elif twiml.has("Dial"):
            if twiml.has("Client"):  # the model's handlers all answer in the console
                caller.phase, caller.connect = "connecting", twiml
                return
            number = twiml.first("Number").text or ""
            caller.phase, caller.connect = "dialled", twiml
            if from_ivr:
                self.expected.offered.add(sid)
            self.expected.outcomes[sid] = "dispatched" if number == DISPATCH else "diverted"
        elif twiml.has("Hangup"):
            if "call back" in twiml.text.lower() and "booked" in twiml.text.lower():
                self.expected.booked += 1
                self.expected.outcomes[sid] = "callback"
            self.end(caller)
        else:
            # Nothing left to do: Twilio would end the call, with the caller still on the line.
            raise AssertionError(f"{sid} ({caller.phase}) was hung up on: {twiml.xml}")

    def end(self, caller: Caller) -> None:
        """The call is over: Twilio's final status callback."""
        if caller.phase == "ivr" and caller.call.sid not in self.expected.outcomes:
            self.expected.outcomes[caller.call.sid] = "terminated"
        caller.phase = "ended"
        response = caller.call.status("completed")
        assert response.status_code == 200

    def hang_up(self, caller: Caller) -> None:
        sid = caller.call.sid
        if caller.phase in ("queued", "connecting"):
            self.expected.outcomes[sid] = "abandoned"
        if caller.phase == "queued" and caller.enqueue is not None:
            caller.call.leave_queue(caller.enqueue, "hangup")
        if caller.phase in ("connecting", "talking", "dialled") and caller.connect is not None:
            # The <Dial> ends with the caller: its action is told, the caller's call is over.
            action = caller.connect.first("Dial").get("action", "")
            status = "completed" if caller.phase == "talking" else "no-answer"
            caller.call.twilio.post(
                action, caller.call.params(DialCallStatus=status, CallStatus="completed")
            )
        self.end(caller)

    def hold(self, caller: Caller, accept_callback: bool) -> None:
        """One turn of the wait loop (Twilio's waitUrl), taking a callback if offered."""
        assert caller.enqueue is not None
        caller.turn += 1
        queue_time = str(int(self.clock.now() - self.expected.arrivals.get(caller.call.sid, 0)))
        url = caller.enqueue.first("Enqueue").get("waitUrl", "")
        twiml = self.twilio.twiml(url, caller.call.params(QueueTime=queue_time))
        refused = set(twiml.verbs) - WAIT_URL_VERBS
        assert not refused, f"Twilio refuses {refused} in the wait loop: {twiml.xml}"
        if twiml.verbs == ["Leave"]:
            self.follow(caller, caller.call.leave_queue(caller.enqueue, "leave"), {})
            return
        if accept_callback and twiml.has("Gather"):
            leave = caller.call.press(twiml, "1")
            if leave.verbs == ["Leave"]:
                self.follow(caller, caller.call.leave_queue(caller.enqueue, "leave"), {})
            elif leave.verbs:  # nothing: the wait loop carries on
                self.land(caller, leave)

    def redirected(self, caller: Caller, handler: str, offer: int) -> None:
        """The connect job's REST redirect: Twilio fetches the connect TwiML for the caller."""
        # Twilio leaves the queue (or the dial) for the redirect; a stale one puts the caller
        # back in their place.
        self.land(
            caller,
            caller.call.twilio.twiml(
                f"/twilio/connect?handler={handler}&offer={offer}", caller.call.params()
            ),
        )

    def dial_result_again(self, caller: Caller) -> None:
        """Twilio sends a <Dial>'s result again, late (a retry after a timeout): whatever it
        says now, it may change nothing."""
        assert caller.last_dial is not None
        url, params = caller.last_dial
        assert self.twilio.post(url, params).status_code == 200

    def handler_answers(self, caller: Caller) -> bool:
        """The handler's leg picks up and hears the whisper (or is told the offer is over)."""
        assert caller.connect is not None
        client = caller.connect.first("Client") if caller.connect.has("Client") else None
        target = client if client is not None else caller.connect.first("Number")
        leg = {"CallSid": "CA" + "f" * 32, "ParentCallSid": caller.call.sid}
        whisper = self.twilio.twiml(target.get("url", ""), caller.call.params() | leg)
        if whisper.has("Hangup"):
            # Told the offer is over and hung up on: Twilio ends the caller's <Dial> as
            # completed, never bridged.
            action = caller.connect.first("Dial").get("action", "")
            params = caller.call.params(DialCallStatus="completed", DialBridged="false")
            caller.last_dial = (action, params)
            self.land(caller, self.twilio.twiml(action, params))
            return False
        caller.phase = "talking"
        self.expected.outcomes[caller.call.sid] = "answered"
        return True

    def dial_ends(self, caller: Caller, status: str) -> None:
        """The <Dial> the caller is in ends: the handler's or the number's outcome."""
        assert caller.connect is not None
        action = caller.connect.first("Dial").get("action", "")
        params = caller.call.params(DialCallStatus=status)
        caller.last_dial = (action, params)
        twiml = self.twilio.twiml(action, params)
        if status == "completed":
            self.end(caller)
            return
        self.land(caller, twiml)

    # Callbacks: the calls Lifeline places (handler first, by the packaged rules).

    def callback_leg(self, callback_id: str, handler: str, offer: int, outcome: str) -> None:
        """The placed call's fate: the patient reached and the call over, not reached, or the
        handler's own phone not answered."""
        query = f"?cb={callback_id}&handler={handler}&offer={offer}&leg=handler"
        base = {"CallSid": "CA" + "e" * 32, "From": "+441134960000", "CallStatus": "in-progress"}
        if outcome == "handler_missed":
            self.twilio.post("/twilio/callback/status" + query, base | {"CallStatus": "no-answer"})
            return
        bridge = self.twilio.twiml("/twilio/callback/answer" + query, base)
        if not bridge.has("Dial"):
            return
        if outcome == "reached":
            patient = {"CallSid": "CA" + "d" * 32}
            greeted = self.twilio.twiml("/twilio/callback/greet" + query, base | patient)
            if not greeted.has("Hangup"):
                self.expected.made += 1
            self.twilio.post(
                "/twilio/callback/result" + query,
                base | {"DialCallStatus": "completed", "DialBridged": "true"},
            )
        else:
            self.twilio.post(
                "/twilio/callback/result" + query, base | {"DialCallStatus": "no-answer"}
            )

    # Handlers and supervisors, through the API.

    def handler_chooses(self, handler: str, state: str) -> None:
        body: dict[str, str] = {"state": state}
        if state == "break":
            body["reason"] = "tea"
        response = self.client.put(
            f"/api/v1/handlers/{handler}/state", json=body, headers=self.api.headers
        )
        assert response.status_code in (200, 409), response.text

    def heartbeat(self, handler: str) -> None:
        self.api.send("POST", f"/api/v1/handlers/{handler}/heartbeat", {})

    def wrap_up(self, handler: str, available: bool) -> None:
        body = {"outcome": "advice_given", "notes": "", "available": available}
        response = self.client.post(
            f"/api/v1/handlers/{handler}/wrap-up", json=body, headers=self.api.headers
        )
        assert response.status_code in (200, 409), response.text

    def sweep(self) -> None:
        """The periodic job's use case, on the app's own event loop."""

        async def go() -> None:
            client = redis.asyncio.Redis.from_url(self.redis_url, decode_responses=True)
            try:
                rules = await RuleBook(client, Audit(client)).active()
                await sweep_floor(client, rules, self.clock.now())
            finally:
                await client.aclose()

        asyncio.run(go())

    def callback_ids(self) -> list[str]:
        return sorted(str(id_) for id_ in self.sync.zrange(keys.CALLBACKS, 0, -1))

    def change_callback(self, callback_id: str, cancel: bool, priority: int) -> None:
        """A supervisor cancels a callback or gives it a new class (refused once it is being
        made or is over)."""
        path = f"/api/v1/callbacks/{callback_id}"
        if cancel:
            response = self.client.post(
                path + "/cancel", json={"reason": "drill"}, headers=self.api.headers
            )
        else:
            response = self.client.put(
                path + "/priority",
                json={"priority": priority, "reason": "drill"},
                headers=self.api.headers,
            )
        assert response.status_code in (200, 409), response.text

    def activate(self, rules: dict[str, Any]) -> None:
        """A supervisor creates a version and activates it (refused if it strands anyone)."""
        version = self.api.send("POST", "/api/v1/rules/versions", {"rules": rules}, status=201)
        response = self.client.post(
            f"/api/v1/rules/versions/{version['number']}/activate",
            json={"reason": "drill"},
            headers=self.api.headers,
        )
        assert response.status_code in (200, 409), response.text

    # What the model expects, checked against Redis and the statistics.

    def arrival_problems(self, floor: Snapshot) -> list[str]:
        return arrival_problems(floor, self.expected.arrivals)

    def statistics_problems(self) -> list[str]:
        """Every wait ended is counted once, as what the model saw it end as."""
        report = self.api.get("/api/v1/stats?window=today")
        total = report["total"]
        outcomes = list(self.expected.outcomes.values())
        seen = {
            "offered": len(self.expected.offered),
            "answered": outcomes.count("answered"),
            "abandoned": outcomes.count("abandoned"),
            "dispatched": outcomes.count("dispatched"),
            "diverted": outcomes.count("diverted"),
        }
        counted = {name: total[name] for name in seen}
        counted_terminated = report["terminated"]
        found = [] if counted == seen else [f"statistics {counted}, the model saw {seen}"]
        if counted_terminated != outcomes.count("terminated"):
            found.append(
                f"{counted_terminated} terminated counted, {outcomes.count('terminated')} seen"
            )
        return found

    # Reading Redis (for the invariants, and to know which outside events can happen now).

    def offers(self) -> list[tuple[str, str, int]]:
        """Members on offer now: (member, handler, offer number)."""
        found = []
        for member in sorted(str(m) for m in self.sync.zrange(keys.RESERVED, 0, -1)):
            handler, offer = self.sync.hmget(record_key(member), ["handler", "offers"])
            found.append((member, str(handler or ""), int(offer or 0)))
        return found


def record_key(member: str) -> str:
    if member.startswith("cb:"):
        return keys.callback(member.removeprefix("cb:"))
    return keys.call(member)


# The invariants, from Redis alone.


@dataclass(frozen=True)
class Snapshot:
    rules: RuleSet
    calls: dict[str, dict[str, str]]
    callbacks: dict[str, dict[str, str]]
    queues: dict[str, dict[str, float]]  # queue -> member -> score
    reserved: set[str]
    scheduled: set[str]
    unreachable: set[str]
    handlers: dict[str, dict[str, str]]
    states: dict[str, set[str]]  # state -> handlers in its sorted set
    served: set[str]  # the queues of the active version
    guarded: set[str]  # the queues the queueing script lets callers into

    def item(self, member: str) -> dict[str, str]:
        if member.startswith("cb:"):
            return self.callbacks.get(member.removeprefix("cb:"), {})
        return self.calls.get(member, {})

    def waiting(self) -> dict[str, tuple[str, int, float]]:
        """Members in a queue: (queue, class, arrival in ms as the score has it)."""
        found = {}
        for queue, members in self.queues.items():
            for member, score in members.items():
                found[member] = (queue, int(score // STEP), score - (score // STEP) * STEP)
        return found


def scan_hashes(sync: redis.Redis, prefix: str) -> Iterator[tuple[str, dict[str, str]]]:
    for key in sync.scan_iter(match=prefix + "*", count=1000):
        name = str(key).removeprefix(prefix)
        if ":" in name:
            continue  # a sub-key (a callback's history)
        if sync.type(key) == "hash":
            yield name, cast(dict[str, str], sync.hgetall(key))


def snapshot(sync: redis.Redis) -> Snapshot:
    number = sync.get(keys.RULES_ACTIVE)
    document = sync.hget(keys.rules_version(int(str(number))), "document")
    rules = parse_rules(str(document))
    queues = {}
    for key in sync.scan_iter(match=keys.queue("*")):
        name = str(key).removeprefix(keys.queue(""))
        rows = cast(list[tuple[str, float]], sync.zrange(key, 0, -1, withscores=True))
        queues[name] = {str(member): float(score) for member, score in rows}
    states: dict[str, set[str]] = {}
    for state in ("offline", "available", "reserved", "busy", "wrap_up", "break"):
        states[state] = {str(h) for h in sync.zrange(keys.handler_state(state), 0, -1)}
    return Snapshot(
        rules=rules,
        calls=dict(scan_hashes(sync, keys.call(""))),
        callbacks=dict(scan_hashes(sync, keys.callback(""))),
        queues=queues,
        reserved={str(m) for m in sync.zrange(keys.RESERVED, 0, -1)},
        scheduled={str(m) for m in sync.zrange(keys.CALLBACKS_SCHEDULED, 0, -1)},
        unreachable={str(m) for m in sync.zrange(keys.CALLBACKS_UNREACHABLE, 0, -1)},
        handlers=dict(scan_hashes(sync, keys.handler(""))),
        states=states,
        served=set(rules.queues),  # from the active version itself, not from our bookkeeping
        guarded={str(q) for q in sync.smembers(keys.RULES_QUEUES)},
    )


def problems(floor: Snapshot) -> list[str]:
    """Every broken invariant of the floor, in words."""
    found: list[str] = []
    where: dict[str, list[str]] = {}
    for queue, members in floor.queues.items():
        for member in members:
            where.setdefault(member, []).append(queue)
    items = [(sid, fields) for sid, fields in floor.calls.items()] + [
        (f"cb:{id_}", fields) for id_, fields in floor.callbacks.items()
    ]
    live_by_handler: dict[str, list[tuple[str, str]]] = {}
    for member, fields in items:
        status = fields.get("status", "")
        queues = where.get(member, [])
        in_reserved = member in floor.reserved
        if status in ("queued", "pending"):
            if queues != [fields.get("queue")]:
                found.append(f"{member} is {status} for {fields.get('queue')} but in {queues}")
            if in_reserved:
                found.append(f"{member} is {status} but also on offer")
            if fields.get("queue") not in floor.served:
                found.append(f"{member} waits in {fields.get('queue')}, which no rule serves")
            score = floor.queues.get(str(fields.get("queue")), {}).get(member)
            expected = expected_score(fields)
            if score is not None and expected is not None and score != expected:
                found.append(f"{member} is at {score}, not at its place {expected}")
        elif status == "reserved":
            if queues or not in_reserved:
                found.append(f"{member} is on offer but in {queues}, reserved: {in_reserved}")
            if fields.get("queue") not in floor.served:
                found.append(f"{member} would go back to {fields.get('queue')}, unserved")
        elif queues or in_reserved:
            found.append(f"{member} is {status} but in {queues}, reserved: {in_reserved}")
        if status in ("scheduled", "unreachable") and fields.get("queue") not in floor.served:
            found.append(f"{member} is {status} for {fields.get('queue')}, which no rule serves")
        if member.startswith("cb:"):
            id_ = member.removeprefix("cb:")
            if (status == "scheduled") != (id_ in floor.scheduled):
                found.append(f"{member} is {status}; in the scheduled index: {bool(id_)}")
            if (status == "unreachable") != (id_ in floor.unreachable):
                found.append(f"{member} is {status}; in the unreachable index disagrees")
        if status in ("reserved", "connected") and fields.get("handler"):
            live_by_handler.setdefault(str(fields["handler"]), []).append((member, status))
        elif status in ("reserved", "connected"):
            found.append(f"{member} is {status} to nobody")
        if not member.startswith("cb:") and fields.get("priority") and fields.get("answers"):
            screen = yaml.safe_load(fields["answers"]).get("screen")
            if (fields["priority"] == "1") != (screen == "emergency"):
                found.append(f"{member} is priority {fields['priority']}, screen {screen}")
    for member in floor.reserved:
        if floor.item(member).get("status") != "reserved":
            found.append(f"{member} is in the offers but {floor.item(member).get('status')}")
    for handler, fields in floor.handlers.items():
        state = fields.get("state", "")
        holding = [s for s, names in floor.states.items() if handler in names]
        if holding != [state]:
            found.append(f"{handler} is {state} but in the sets of {holding}")
        live = live_by_handler.get(handler, [])
        if len(live) > 1:
            found.append(f"{handler} holds {live}")
        want = {"reserved": "reserved", "busy": "connected"}.get(state)
        if want is not None:
            if [status for _, status in live] != [want] or live[0][0] != fields.get("call"):
                found.append(f"{handler} is {state} with {fields.get('call')}, holding {live}")
        elif live:
            found.append(f"{handler} is {state} yet holds {live}")
    if floor.guarded != floor.served:
        found.append(f"callers may be queued in {floor.guarded}, the rules serve {floor.served}")
    for name, rule in floor.rules.queues.items():
        unknown = set(rule.skills) - set(floor.rules.skills)
        if unknown:
            found.append(f"queue {name} needs skills the rules do not declare: {unknown}")
    return found


def expected_score(fields: dict[str, str]) -> float | None:
    """A waiting member's place: its class, then its original arrival (an urgent callback at
    risk goes ahead of its class by a fixed shift)."""
    if not fields.get("arrival") or not fields.get("priority"):
        return None
    ms = math.floor(float(fields["arrival"]) * 1000)
    if fields.get("at_risk") == "1":
        ms -= AT_RISK_SHIFT_MS
    return int(fields["priority"]) * STEP + ms


def effective(priority: int, waited: float, rules: RuleSet) -> int:
    """Guarded aging, as the rules describe it (independent of the Lua that does it)."""
    if priority == 1:
        return 1
    steps = min(rules.aging.max_steps, math.floor(waited / rules.aging.every_seconds))
    return max(2, priority - steps)


def order_problems(before: Snapshot, after: Snapshot, now: float) -> list[str]:
    """No handler was given a call while a call that goes before it (priority 1 first, then by
    effective priority with aging capped, then arrival), which they could take, still waits."""
    found = []
    waiting = after.waiting()
    for member in sorted(after.reserved - before.reserved):
        fields = after.item(member)
        handler = str(fields.get("handler", ""))
        skills = yaml.safe_load(after.handlers.get(handler, {}).get("profile", "{}"))["skills"]
        score = float(fields.get("score") or 0)
        mine = key_of(int(score // STEP), score - (score // STEP) * STEP, now, after.rules)
        for other, (queue, cls, arrival_ms) in waiting.items():
            rule = after.rules.queues.get(queue)
            if rule is None or not rule.answerable_by(skills):
                continue
            if cls == 1 and past_limit(after.calls.get(other, {}), arrival_ms, now, after.rules):
                continue  # on its way to the dispatch line: assignment passes it by
            if key_of(cls, arrival_ms, now, after.rules) < mine:
                found.append(f"{handler} was given {member} {mine} while {other} waits ahead")
    return found


def past_limit(call: dict[str, str], arrival_ms: float, now: float, rules: RuleSet) -> bool:
    """An emergency's time to reach a handler is up (counted again from a dispatch tried)."""
    since = max(arrival_ms / 1000, float(call.get("dispatch_tried") or 0))
    return since + rules.emergency.handler_limit_seconds <= now


def key_of(cls: int, arrival_ms: float, now: float, rules: RuleSet) -> tuple[int, float]:
    return (effective(cls, now - arrival_ms / 1000, rules), arrival_ms)


def arrival_problems(floor: Snapshot, arrivals: dict[str, float]) -> list[str]:
    """Moved, requeued, missed or made a callback, a caller keeps their original arrival
    (`arrivals`: each call's as first seen, kept by the caller of this across checks)."""
    found = []
    for sid, fields in floor.calls.items():
        if fields.get("arrival"):
            first = arrivals.setdefault(sid, float(fields["arrival"]))
            if float(fields["arrival"]) != first:
                found.append(f"{sid} arrived at {first}, now says {fields['arrival']}")
    for id_, fields in floor.callbacks.items():
        call = arrivals.get(fields.get("call_sid", ""))
        if call is not None and float(fields["arrival"]) != call:
            found.append(f"callback {id_} arrived at {fields['arrival']}, its call {call}")
    return found
