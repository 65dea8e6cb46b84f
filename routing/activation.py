"""Activating a rule set version: every call and callback waiting, on offer or booked is placed
again under it, in its place, and the version, the queues it serves and its audit record are
written in one atomic step; or the activation is refused, naming who would be stranded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import cast

from redis.asyncio import Redis

from routing import keys
from routing.assignment import Offer
from routing.audit import AUDIT_MAXLEN
from routing.callbacks import AT_RISK_SHIFT_MS
from routing.floor import Floor, assign_waiting
from routing.lua import MOVE_HANDLER, Script, script
from routing.models import Answers, CallFacts, Placement, Priority
from routing.overflow import QueueConditions, ToNumber
from routing.queues import Queues
from routing.rule_checks import number_problems
from routing.rulebook import RuleBook, Version, diff
from routing.rules import ONWARD_ROUTE, RuleSet, RuleSetError

ROUNDS = 5  # a caller queued by a process still on the old rules meanwhile: plan again

# ARGV[1] is JSON: the version, the queues it serves, the queue names that exist (so that the
# ones it drops can be checked), the moves planned and the audit entry. Nothing is written unless
# every member of a dropped queue (waiting, on offer, booked for later) has a move: otherwise the
# members without one come back, to be planned. The audit entry is written first, so that an
# error leaves nothing half done.
_ACTIVATE = script(
    MOVE_HANDLER,
    """
-- Another activation landed after this one was planned: plan again from it.
if (redis.call('GET', K.RULES_ACTIVE) or '') ~= a.previous then return {'changed', ''} end
local served = {}
for _, name in ipairs(a.served) do served[name] = true end
for _, name in ipairs(redis.call('SMEMBERS', K.RULES_QUEUES)) do
  table.insert(a.known, name)
end
local planned = {}
for _, move in ipairs(a.moves) do planned[move.member] = move end
local missing = {}
local function check(member, queue)
  if queue and not served[queue] and not planned[member] then table.insert(missing, member) end
end
for _, name in ipairs(a.known) do
  if not served[name] then
    for _, member in ipairs(redis.call('ZRANGE', K.queue .. name, 0, -1)) do
      if redis.call('EXISTS', record_key(member)) == 0 then
        redis.call('ZREM', K.queue .. name, member)  -- its record expired: nobody waits
      else
        check(member, name)
      end
    end
  end
end
for _, member in ipairs(redis.call('ZRANGE', K.RESERVED, 0, -1)) do
  check(member, redis.call('HGET', record_key(member), 'queue'))
end
for _, index in ipairs({K.CALLBACKS_SCHEDULED, K.CALLBACKS_UNREACHABLE}) do
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    check(callback_member(id), redis.call('HGET', K.callback .. id, 'queue'))
  end
end
if #missing > 0 then return {'missing', missing} end

redis.call('XADD', K.AUDIT, 'MAXLEN', '~', a.audit_maxlen, '*', 'at', NOW,
           'actor', a.actor, 'action', 'rules.activate', 'target', 'version ' .. a.version,
           'detail', a.detail)
redis.call('SET', K.RULES_ACTIVE, a.version)
redis.call('DEL', K.RULES_QUEUES)
redis.call('SADD', K.RULES_QUEUES, unpack(a.served))

local moved = 0
for _, move in ipairs(a.moves) do
  local record = record_key(move.member)
  local f = redis.call('HMGET', record, 'status', 'queue', 'arrival', 'at_risk')
  local status = f[1]
  if status == 'queued' or status == 'reserved' or status == 'pending' or
     status == 'scheduled' or status == 'unreachable' then
    local ms = math.floor(tonumber(f[3]) * 1000)
    if f[4] == '1' then ms = ms - a.at_risk_shift end
    local score = queue_score(move.priority, ms)
    if status == 'queued' or status == 'pending' then
      redis.call('ZREM', K.queue .. f[2], move.member)
      redis.call('ZADD', K.queue .. move.queue, score, move.member)
    end
    redis.call('HSET', record, 'queue', move.queue, 'priority', move.priority,
               'placement', move.placement, 'score', score)
    moved = moved + 1
  end
end
return {'ok', moved}
""",
)


@dataclass(frozen=True)
class Move:
    """Where a waiting member goes under the new version (its arrival is kept)."""

    member: str
    queue: str
    priority: Priority
    placement: Placement


@dataclass(frozen=True)
class Activated:
    number: int
    diff: str
    moved: int  # calls and callbacks placed in another queue or at another priority
    offers: list[Offer] = field(default_factory=list)  # to free handlers, once it is active


class ActivationRefused(Exception):
    """Activating would strand someone; `problems` names each of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


async def activate(
    redis: Redis,
    rulebook: RuleBook,
    version: int | Version,
    author: str,
    now: float,
    reason: str = "",
    credential: Mapping[str, object] | None = None,
) -> Activated:
    """Make `version` (its number, or the version as read already) the active version and place
    everyone waiting again under it. Planned against the version active when it starts: if
    another activation lands first, it plans again from that one. `credential` says in the audit
    record what the author acted with (the token's id, or a console session and its second
    factor). A version whose destinations are outside the number policy (kept before it) is
    refused with RuleSetError, naming each: checked once, however many times it is planned."""
    if isinstance(version, int):
        version = await rulebook.get(version)
    problems = number_problems(version.rules, rulebook.number_exceptions)
    if problems:  # a version kept before the number policy: refused as a new one would be
        raise RuleSetError(problems)
    for _ in range(ROUNDS):
        planned = await prepare(
            redis, rulebook, version.number, author, now, reason, credential, version.rules
        )
        done = await apply(redis, planned)
        if done is not None:
            rulebook.forget()
            return done
    raise ActivationRefused(["the rules kept changing meanwhile: try again"])


async def activate_rule_set(
    floor: Floor, version: Version, author: str, reason: str, credential: Mapping[str, object]
) -> Activated:
    """A supervisor activates `version` (as read to find it exists): everyone waiting is placed
    again under it, then free handlers are offered the best waiting calls under the rules active
    then (it, unless another activation has landed since), and the offers are connected."""
    now = floor.clock.now()
    activated = await activate(
        floor.redis, floor.rulebook, version, author, now, reason, credential
    )
    return replace(activated, offers=await assign_waiting(floor))


@dataclass
class Plan:
    """An activation worked out against the version active when it was prepared."""

    number: int
    previous: int | None
    rules: RuleSet
    diff: str
    known: set[str]  # every queue that exists or may, to check none of the dropped is left
    todo: set[str]  # members still to be planned
    conditions: Mapping[str, QueueConditions]
    author: str
    reason: str
    now: float
    moves: dict[str, Move] = field(default_factory=dict)
    credential: Mapping[str, object] = field(default_factory=dict)


async def prepare(
    redis: Redis,
    rulebook: RuleBook,
    number: int,
    author: str,
    now: float,
    reason: str = "",
    credential: Mapping[str, object] | None = None,
    checked: RuleSet | None = None,
) -> Plan:
    """`checked`: the version's rules, already read and checked against the number policy."""
    rules = checked
    if rules is None:
        rules = (await rulebook.get(number)).rules
        problems = number_problems(rules, rulebook.number_exceptions)
        if problems:  # a version kept before the number policy: refused as a new one would be
            raise RuleSetError(problems)
    previous_number = await rulebook.active_number()
    previous = await rulebook.get(previous_number) if previous_number is not None else None
    change = diff(
        previous.rules if previous else None,
        rules,
        f"version {previous_number}" if previous else "none",
        f"version {number}",
    )
    known = set(rules.queues) | (set(previous.rules.queues) if previous else set())
    todo, known = await waiting_members(redis, known)
    conditions = await Queues(redis).conditions(rules)
    return Plan(
        number,
        previous_number,
        rules,
        change,
        known,
        todo,
        conditions,
        author,
        reason,
        now,
        credential=dict(credential or {}),
    )


async def apply(redis: Redis, planned: Plan) -> Activated | None:
    """Write the activation in one step; None if another activation landed since the plan was
    prepared (prepare again). Members who arrived in a dropped queue meanwhile are planned too."""
    script = Script(redis, _ACTIVATE)
    for _ in range(ROUNDS):
        moves, problems = await plan(
            redis, planned.rules, planned.todo, planned.now, planned.conditions
        )
        if problems:
            raise ActivationRefused(problems)
        planned.moves |= {move.member: move for move in moves}
        request = {
            "now": repr(planned.now),
            "version": planned.number,
            "previous": "" if planned.previous is None else str(planned.previous),
            "served": sorted(planned.rules.queues),
            "known": sorted(planned.known),
            "moves": [
                {
                    "member": move.member,
                    "queue": move.queue,
                    "priority": int(move.priority),
                    "placement": move.placement.model_dump_json(),
                }
                for move in planned.moves.values()
            ],
            "at_risk_shift": AT_RISK_SHIFT_MS,
            "actor": planned.author,
            "audit_maxlen": AUDIT_MAXLEN,
            "detail": json.dumps(
                {
                    "previous": planned.previous,
                    "reason": planned.reason,
                    **planned.credential,
                    "diff": planned.diff,
                },
                default=str,
            ),
        }
        outcome, value = await script(args=[json.dumps(request)])
        if outcome == "ok":
            return Activated(number=planned.number, diff=planned.diff, moved=int(value))
        if outcome == "changed":
            return None
        planned.todo = {str(member) for member in value} - planned.moves.keys()
    return None


async def waiting_members(redis: Redis, known: Iterable[str]) -> tuple[set[str], set[str]]:
    """Everyone who may be placed again (in a queue, on offer, or a callback booked for later),
    and the names of every queue that exists or may."""
    names = set(known)
    prefix = keys.queue_prefix()
    names |= {str(key).removeprefix(prefix) async for key in redis.scan_iter(match=prefix + "*")}
    async with redis.pipeline(transaction=False) as pipe:
        for name in sorted(names):
            pipe.zrange(keys.queue(name), 0, -1)
        pipe.zrange(keys.RESERVED, 0, -1)
        pipe.zrange(keys.CALLBACKS_SCHEDULED, 0, -1)
        pipe.zrange(keys.CALLBACKS_UNREACHABLE, 0, -1)
        rows = cast(list[list[str]], await pipe.execute())
    members = {str(member) for row in rows[:-2] for member in row}
    members |= {keys.callback_member(str(id_)) for row in rows[-2:] for id_ in row}
    return members, names


async def plan(
    redis: Redis,
    rules: RuleSet,
    members: Iterable[str],
    now: float,
    conditions: Mapping[str, QueueConditions],
) -> tuple[list[Move], list[str]]:
    """Where each member goes under `rules` (those that stay put are left out), and who cannot
    be placed at all."""
    ordered = sorted(members)
    async with redis.pipeline(transaction=False) as pipe:
        for member in ordered:
            pipe.hmget(
                keys.record(member),
                ["status", "queue", "priority", "answers", "line", "case_id", "placement"],
            )
        rows = cast(list[list[str | None]], await pipe.execute())
    moves, problems = [], []
    for member, (status, queue, priority, answers, line, case_id, placed) in zip(
        ordered, rows, strict=True
    ):
        if status not in ("queued", "reserved", "pending", "scheduled", "unreachable"):
            continue
        callback = keys.is_callback(member)
        if not answers:
            if queue not in rules.queues:
                problems.append(
                    f"callback {keys.callback_id(member)} (case {case_id}) waits in queue "
                    f"{queue!r}, which this version drops, and what its caller answered was not "
                    "kept, so it cannot be placed again: cancel it or let it be made first"
                )
            continue
        facts = CallFacts.of(Answers.model_validate_json(answers), line or "", now)
        placement = rules.place(facts)
        if placed and ONWARD_ROUTE in placed:
            # One a handler sent to a clinician waits for one under these rules too.
            if rules.onward.clinician_queue is None:
                what = f"callback {keys.callback_id(member)}" if callback else "a caller"
                problems.append(
                    f"{what} (case {case_id}) waits for a clinician, and this version names no "
                    "clinicians' queue (onward.clinician_queue): keep one until they are reached"
                )
                continue
            placement = rules.replace(Placement.model_validate_json(placed), facts)
        if placement.priority is not Priority.EMERGENCY and not placement.route.startswith(
            ONWARD_ROUTE
        ):
            resolved = rules.resolve(placement, now, conditions)
            if not isinstance(resolved, ToNumber):
                placement = resolved  # numbers are offered on arrival only
        if callback:  # a callback keeps its class (supervisors and its target change it)
            placement = placement.model_copy(update={"priority": Priority(int(priority or 3))})
        if placement.queue != queue or int(placement.priority) != int(priority or 0):
            moves.append(Move(member, placement.queue, placement.priority, placement))
    return moves, problems
