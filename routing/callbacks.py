"""Callbacks that keep the caller's place, and every change to one, each an atomic Lua step.

A callback waits in its queue at the score the call had (same priority class, same original
arrival), is offered to a handler in its turn like any caller, is tried by the rule set's retry
policy, and ends made, unreachable (for a clinician to decide) or cancelled: never dropped.

    pending ─offer─▶ reserved ─patient reached─▶ connected ─call over─▶ done
       ▲  │             │ handler missed: back to pending, in place
       │  │             └ patient not reached ─▶ scheduled (retry later) ─due─▶ pending
       │  │                                   └▶ unreachable (attempts used up)
       │  └─cancel─▶ cancelled      (scheduled and unreachable may be cancelled too)
       └── unreachable, re-prioritised by a clinician: back in place, a fresh set of attempts
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import callback_steps as steps
from routing import keys
from routing.calls import OUTCOMES
from routing.figures import CALLBACKS
from routing.lua import Script, argument
from routing.models import Answers, Placement, Priority, case_id_for
from routing.number_hash import NumberHash, callback_to_key, caller_key
from routing.replicated import replicated
from routing.rules import CallbackRule
from routing.stats import COUNT

AT_RISK_SHIFT_MS = 10**11  # an urgent callback at risk goes ahead of its class (about 3 years)
# An offer's `outbound:{offer}` field holds the CallSid of its call, or, while the call is being
# placed and Twilio's answer is not in, this mark (and the placing run's marker): the floor's
# sweep leaves such an offer to its call's outcome as it does a placed one.
DIALLING = "dialling:"
# KEYS[1] the callback. The offer's `field`, the CallSid (`sid`), the `mark`. A SID there stays.
_OUTBOUND_STARTED = """
local a = cjson.decode(ARGV[1])
local held = redis.call('HGET', KEYS[1], a.field)
if held and string.sub(held, 1, #a.mark) ~= a.mark then return 0 end
redis.call('HSET', KEYS[1], a.field, a.sid)
return 1
"""
LIVE = keys.LIVE_CALLBACK
LISTED = 500  # the latest callbacks read for a listing by a status that has no index of its own


class CallbackStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RESERVED = "reserved"
    CONNECTED = "connected"
    DONE = "done"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class Callback(BaseModel):
    id: str
    case_id: str
    call_sid: str
    number: str
    line: str
    locale: str
    queue: str
    priority: Priority
    arrival: float
    created: float
    status: CallbackStatus
    attempts: int = 0
    handler: str = ""
    offers: int = 0
    not_before: float | None = None
    due_by: float | None = None
    at_risk: bool = False
    connected_at: float | None = None
    ended_at: float | None = None
    reason: str = ""
    answers: Answers | None = None  # what the caller told the IVR (kept to place it again)
    # A clinician's callback: the urgency the handler chose, their notes, and who they are.
    urgency: str = ""
    notes: str = ""
    asked_by: str = ""

    def overdue(self, now: float) -> bool:
        return self.due_by is not None and self.status in LIVE and now > self.due_by


class HistoryEntry(BaseModel):
    at: float
    event: str
    detail: dict[str, Any] = {}


CLINICIAN_SUFFIX = "-C"  # a clinician's callback's id: its case id, and this


@dataclass(frozen=True)
class ClinicianAsk:
    """What a handler asks of a clinician's callback: how urgent (and its target, in seconds),
    and their notes."""

    urgency: str
    target: int
    notes: str
    by: str
    skill: str = ""  # what makes a handler a clinician: only one stops the clock


@dataclass(frozen=True)
class Booking:
    """What became of a queued call's callback request."""

    callback: str
    kept: bool  # the caller has a live callback already, which stands: none was booked


# Statuses whose every callback is in a sorted set of its own (the steps keep them), so
# that a list of them misses none, however long ago they were booked.
INDEXED = {
    CallbackStatus.UNREACHABLE: keys.CALLBACKS_UNREACHABLE,
    CallbackStatus.SCHEDULED: keys.CALLBACKS_SCHEDULED,
}


class Callbacks:
    def __init__(self, redis: Redis, *, numbers: NumberHash | None = None) -> None:
        self.redis = redis
        self.numbers = numbers
        self._convert = Script(redis, steps.CONVERT)
        self._clinician = Script(redis, steps.CLINICIAN)
        self._attempt = Script(redis, steps.ATTEMPT)
        self._done = Script(redis, steps.DONE)
        self._cancel = Script(redis, steps.CANCEL)
        self._reprioritise = Script(redis, steps.REPRIORITISE)
        self._due = Script(redis, steps.DUE)
        self._slot = Script(redis, steps.SLOT)
        self._hold_back = Script(redis, steps.HOLD_BACK)
        self._at_risk = Script(redis, steps.AT_RISK)
        self._count_offered = Script(redis, COUNT)
        self._outbound_started = redis.register_script(_OUTBOUND_STARTED)

    def _args(self, callback_id: str, now: float, **values: object) -> list[str]:
        return [
            json.dumps(
                {
                    "id": callback_id,
                    "now": repr(now),
                    "at_risk_shift": AT_RISK_SHIFT_MS,
                    **values,
                }
            )
        ]

    # While the caller is still on the line (the hold loop's offer).

    async def request(self, sid: str) -> None:
        """The caller asked for a callback in the hold loop; they keep their place meanwhile."""
        await self.redis.hset(keys.call(sid), "callback_requested", "1")

    async def withdraw(self, sid: str) -> None:
        await self.redis.hdel(
            keys.call(sid), "callback_requested", "callback_number", "numbers_refused"
        )

    async def offered(self, sid: str, priority: Priority, now: float) -> None:
        """Count a caller the first time they are offered a callback."""
        if await self.redis.hsetnx(keys.call(sid), "callback_offered", "1"):
            await self._count_offered(
                args=[
                    json.dumps(
                        {
                            "now": repr(now),
                            "queue": CALLBACKS,
                            "priority": int(priority),
                            "kind": "offered",
                            "subject": sid,
                        }
                    )
                ]
            )

    async def propose_number(self, sid: str, number: str) -> None:
        await self.redis.hset(keys.call(sid), "callback_number", number)

    async def proposed_number(self, sid: str) -> str:
        number = await self.redis.hget(keys.call(sid), "callback_number")
        return str(number or "")

    async def convert(
        self,
        sid: str,
        case_id: str,
        number: str,
        caller: str,
        placement: Placement,
        rules: CallbackRule,
        now: float,
    ) -> Booking | None:
        """Make the queued call a callback to `number` in its place; None if the call is not
        queued. A caller with a live callback keeps that one (`kept`), and the call ends as it.
        A caller who withholds their number is known by the number they gave. One live callback
        per number called back, whoever asks: NumberTaken if `number` has another caller's (the
        call stays queued, in its place)."""
        target = rules.targets_seconds.get(placement.priority)
        caller = caller or number
        script_keys = [
            caller_key(self.numbers, caller),
            OUTCOMES,
            callback_to_key(self.numbers, number),
        ]
        args = self._args(
            case_id,
            now,
            sid=sid,
            number=number,
            caller=caller,
            due_by=repr(now + target) if target else "",
            at_risk_at=repr(now + target * rules.at_risk_after) if target else "",
            at_risk_after=rules.at_risk_after,
            caller_ttl=keys.CALLER_TTL_SECONDS,
        )
        created = await replicated(
            self.redis,
            "callback",
            lambda client: self._convert(keys=script_keys, args=args, client=client),
        )
        if not created:
            return None
        callback_id, outcome, *refusals = created
        if outcome == "taken":
            raise NumberTaken(int(refusals[0]))
        return Booking(callback=str(callback_id), kept=outcome == "kept")

    async def for_clinician(
        self,
        sid: str,
        number: str,
        caller: str,
        placement: Placement,
        ask: ClinicianAsk,
        rules: CallbackRule,
        now: float,
    ) -> Booking:
        """A clinician's callback for the call `sid`, in `placement` (the clinicians' queue at
        the urgency's class), due by the urgency's target; raised when at risk of missing it.
        NumberTaken if `number` has a live callback already; the same asked again is the one
        made (`kept`)."""
        callback_id = f"{case_id_for(sid)}{CLINICIAN_SUFFIX}"
        made = await self._clinician(
            keys=[caller_key(self.numbers, caller), callback_to_key(self.numbers, number)],
            args=self._args(
                callback_id,
                now,
                sid=sid,
                number=number,
                caller=caller,
                placement=placement.model_dump_json(),
                queue=placement.queue,
                priority=int(placement.priority),
                urgency=ask.urgency,
                target=ask.target,
                skill=ask.skill,
                notes=ask.notes,
                handler=ask.by,
                due_by=repr(now + ask.target),
                at_risk_at=repr(now + ask.target * rules.at_risk_after),
                caller_ttl=keys.CALLER_TTL_SECONDS,
            ),
        )
        made_id, outcome = str(made[0]), str(made[1])
        if outcome == "taken":
            raise NumberTaken(0, made_id)
        if outcome == "unknown":
            raise KeyError(sid)
        return Booking(callback=made_id, kept=outcome == "again")

    # Outcomes.

    async def attempted(
        self,
        callback_id: str,
        handler: str,
        offer: int,
        outcome: str,
        rules: CallbackRule,
        now: float,
    ) -> str:
        """The patient was reached (`answered`) or not; returns the callback's new status, or
        `stale` if this offer is no longer the live one."""
        callback = await self.get(callback_id)
        policy = rules.policy(callback.priority)
        result = await self._attempt(
            args=self._args(
                callback_id,
                now,
                handler=handler,
                offer=offer,
                outcome=outcome,
                max_attempts=policy.attempts,
                spacing=rules.spacing(callback.priority, callback.attempts + 1),
            )
        )
        return str(result)

    async def machine_answered(self, callback_id: str, offer: int) -> None:
        await self.redis.hset(keys.callback(callback_id), f"machine:{offer}", "1")

    async def was_machine(self, callback_id: str, offer: int) -> bool:
        return bool(await self.redis.hget(keys.callback(callback_id), f"machine:{offer}"))

    async def outbound_started(self, callback_id: str, offer: int, call_sid: str) -> None:
        """Twilio created the call for this offer (so a retried job must not place another): its
        SID replaces the mark of a call being placed; one recorded already stays."""
        await self._outbound_started(
            keys=[keys.callback(callback_id)],
            args=argument(field=f"outbound:{offer}", sid=call_sid, mark=DIALLING),
        )

    async def done(self, callback_id: str, now: float) -> bool:
        return bool(await self._done(args=self._args(callback_id, now)))

    async def cancel(self, callback_id: str, actor: str, reason: str, now: float) -> str:
        """Returns `cancelled` when this call cancelled it; otherwise `unknown`, `cancelled
        already`, or the status that prevents it (being dialled, done)."""
        callback = await self.redis.hget(keys.callback(callback_id), "caller")
        record = caller_key(self.numbers, str(callback)) if callback else ""
        result = await self._cancel(
            keys=[record], args=self._args(callback_id, now, actor=actor, reason=reason)
        )
        return str(result)

    async def reprioritise(
        self,
        callback_id: str,
        priority: Priority,
        actor: str,
        reason: str,
        rules: CallbackRule,
        now: float,
    ) -> str:
        """A new class; its target (from when it was booked) becomes that class's. Returns the
        status after the change: `pending` or `scheduled` (an unreachable callback goes back in
        the queue, pending, with a fresh set of attempts); otherwise `unknown`, `superseded` (an
        unreachable one whose caller has booked another since), `number taken` (one that another
        caller has a live callback to its number since), or the status that prevents it."""
        created, caller = await self.redis.hmget(keys.callback(callback_id), ["created", "caller"])
        if created is None:
            return "unknown"
        target = rules.targets_seconds.get(priority)
        booked_at = float(created)
        result = await self._reprioritise(
            keys=[caller_key(self.numbers, str(caller)) if caller else ""],
            args=self._args(
                callback_id,
                now,
                priority=int(priority),
                actor=actor,
                reason=reason,
                due_by=repr(booked_at + target) if target else "",
                at_risk_at=repr(booked_at + target * rules.at_risk_after) if target else "",
                caller_ttl=keys.CALLER_TTL_SECONDS,
            ),
        )
        return str(result)

    async def superseded_by(self, callback_id: str) -> str:
        """The caller's live callback if it is another one (which keeps an unreachable one from
        being put back in the queue), else ""."""
        caller = await self.redis.hget(keys.callback(callback_id), "caller")
        newer = await self.live_for(str(caller or ""))
        return newer.id if newer is not None and newer.id != callback_id else ""

    async def holding_number(self, callback_id: str) -> str:
        """Another caller's live callback to this one's number (which keeps an unreachable one
        from being put back in the queue), else ""."""
        to = await self.redis.hget(keys.callback(callback_id), "to_key")
        holder = str(await self.redis.get(str(to)) or "") if to else ""
        if not holder or holder == callback_id:
            return ""
        try:
            callback = await self.get(holder)
        except UnknownCallback:
            return ""
        return callback.id if callback.status in LIVE else ""

    async def waits_for_slot(
        self, callback_id: str, handler: str, offer: int, moment: float, now: float
    ) -> bool:
        """This offer's call goes at its calling slot, `moment`: the offer's time runs from
        then. False if the offer is no longer the live one."""
        args = self._args(callback_id, now, handler=handler, offer=offer, at=repr(moment))
        return bool(await self._slot(args=args))

    async def hold_back(self, callback_id: str, until: float, now: float) -> bool:
        """A pending callback (no calling slot soon) waits out of the handlers' reach until
        `until`, then comes back to its place, as a retry does."""
        args = self._args(callback_id, now, not_before=repr(until))
        return bool(await self._hold_back(args=args))

    async def release_due(self, now: float) -> int:
        return int(await self._due(args=self._args("", now)))

    async def raise_at_risk(self, now: float) -> list[str]:
        return [str(item) for item in await self._at_risk(args=self._args("", now))]

    # Reading.

    async def get(self, callback_id: str) -> Callback:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.callback(callback_id)))
        if not fields:
            raise UnknownCallback(f"no callback {callback_id!r}")
        return callback_from_hash(fields)

    async def history(self, callback_id: str) -> list[HistoryEntry]:
        rows = cast(list[str], await self.redis.lrange(keys.callback_history(callback_id), 0, -1))
        return [HistoryEntry.model_validate_json(row) for row in rows]

    async def count(self, status: CallbackStatus) -> int:
        """How many callbacks are in a status that has an index of its own (all of them)."""
        return int(await self.redis.zcard(INDEXED[status]))

    async def latest(self, count: int = LISTED) -> list[Callback]:
        return await self._read(keys.CALLBACKS, count)

    async def with_status(
        self, status: CallbackStatus | None, count: int = LISTED
    ) -> list[Callback]:
        """Callbacks in `status` (None: any), newest first: every one, for a status with an
        index of its own (unreachable, scheduled); otherwise those among the latest `count`."""
        index = INDEXED.get(status) if status is not None else None
        rows = await self._read(index, 0) if index else await self.latest(count)
        return [row for row in rows if status is None or row.status is status]

    async def _read(self, index: str, count: int) -> list[Callback]:
        """The callbacks of a sorted set of ids, highest score first; `count` 0 for all."""
        ids = cast(list[str], await self.redis.zrevrange(index, 0, count - 1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for callback_id in ids:
                pipe.hgetall(keys.callback(callback_id))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [callback_from_hash(row) for row in rows if row]

    async def live_for(self, caller: str) -> Callback | None:
        """The caller's live callback, if they have one."""
        if not caller:
            return None
        callback_id = await self.redis.hget(caller_key(self.numbers, caller), "callback")
        if not callback_id:
            return None
        try:
            callback = await self.get(str(callback_id))
        except UnknownCallback:
            return None
        return callback if callback.status in LIVE else None


class UnknownCallback(Exception):
    pass


class NumberTaken(Exception):
    """The number has a live callback that another caller asked for: none is booked, and the
    call stays queued in its place. `refusals`: how many numbers this call has had refused."""

    def __init__(self, refusals: int, held_by: str = "") -> None:
        super().__init__(f"the number has a live callback already (refusal {refusals})")
        self.refusals = refusals
        self.held_by = held_by  # that callback's id, where known


def optional(fields: dict[str, str], name: str) -> float | None:
    value = fields.get(name, "")
    return float(value) if value else None


def callback_from_hash(fields: dict[str, str]) -> Callback:
    return Callback(
        id=fields["id"],
        case_id=fields["case_id"],
        call_sid=fields.get("call_sid", ""),
        number=fields["number"],
        line=fields.get("line", ""),
        locale=fields.get("locale", "en-GB"),
        queue=fields["queue"],
        priority=Priority(int(fields["priority"])),
        arrival=float(fields["arrival"]),
        created=float(fields["created"]),
        status=CallbackStatus(fields["status"]),
        attempts=int(fields.get("attempts", 0) or 0),
        handler=fields.get("handler", ""),
        offers=int(fields.get("offers", 0) or 0),
        not_before=optional(fields, "not_before"),
        due_by=optional(fields, "due_by"),
        at_risk=fields.get("at_risk") == "1",
        connected_at=optional(fields, "connected_at"),
        ended_at=optional(fields, "ended_at"),
        reason=fields.get("reason", ""),
        answers=Answers.model_validate_json(fields["answers"]) if fields.get("answers") else None,
        urgency=fields.get("urgency", ""),
        notes=fields.get("notes", ""),
        asked_by=fields.get("asked_by", ""),
    )
