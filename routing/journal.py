"""The contingency journal: everything that should have reached the clinical system, kept until
it has, one entry per case, replayed open cases first.

Each capture and each outcome is appended to a durable Redis stream (the record of what
happened); each case's entry hash holds where it stands; a sorted set orders what is left to
replay (open cases — ambulance requests, callbacks still to make — before the rest, then by
time). Nothing leaves the journal but by delivery; what cannot be delivered waits, with its
reason, for a person. A replay is under way while the agenda holds its next batch
(`routing.agenda`), and runs one batch at a time.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.agenda import AGENDA, REDELIVER_SECONDS, REPLAY_BATCH, member
from routing.lua import argument
from routing.replicated import replicated

PENDING = keys.JOURNAL_PENDING
FAILED = keys.JOURNAL_FAILED
SETTLED = keys.JOURNAL_SETTLED
WALKED = keys.JOURNAL_WALKED
RETENTION_BATCH = 100  # entries a retention script looks at, while Redis runs nothing else
RETENTION_BATCHES = 50  # batches a housekeeping run takes at most: a backlog takes a few runs
WALK_KEYS = 1000  # keys of every kind a step of the walk looks at (SCAN's COUNT)
REPLAY = keys.JOURNAL_REPLAY
REPLAY_LEASE = keys.JOURNAL_REPLAY_LEASE
OPEN_FIRST = 10**13  # score = (0 if open else OPEN_FIRST) + captured-at in milliseconds
# Longer than a batch may run (its job's timeout), shorter than the agenda's redelivery: a batch
# whose worker died frees the replay before the agenda hands its next batch out again.
REPLAY_LEASE_SECONDS = 20


class EntryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # the clinical system already had it: delivered all the same
    FAILED = "failed"  # refused by the clinical system: a person must act


class JournalEntry(BaseModel):
    case_id: str
    kind: str
    captured: float
    open: bool
    status: EntryStatus
    facts: dict[str, Any]
    bundle: dict[str, Any]
    notes: str = ""
    attempts: int = 0
    error: str = ""
    delivered: float | None = None
    version: int = 0  # counts the requests kept in it: an answer settles only the one it was to


class Progress(BaseModel):
    captured: int = 0
    delivered: int = 0
    duplicate: int = 0
    failed: int = 0
    pending: int = 0
    running: bool = False
    started: float | None = None
    finished: float | None = None


_CAPTURE = """
local a = cjson.decode(ARGV[1])
local entry = KEYS[1]
local status = redis.call('HGET', entry, 'status')
local event = 'updated'
local function queue_for_replay()
  local score = math.floor(tonumber(a.now) * 1000)
  if redis.call('HGET', entry, 'open') ~= '1' then score = score + a.open_first end
  redis.call('ZADD', KEYS[2], score, a.case_id)
end
if not status then
  event = 'captured'
  redis.call('HSET', entry, 'case_id', a.case_id, 'kind', a.kind, 'captured', a.now,
             'open', a.open, 'status', 'pending', 'facts', a.facts, 'bundle', a.bundle,
             'notes', a.notes, 'attempts', 0, 'version', 1)
  queue_for_replay()
  redis.call('HINCRBY', KEYS[4], 'captured', 1)
else
  -- The same case again (its wrap-up, notes added): one entry, with the latest request; the
  -- case as opened, kept again after its wrap-up (a retried job), never takes its place, nor
  -- does a wrap-up kept after its correction (a later wrap-up of the call).
  local kept = cjson.decode(redis.call('HGET', entry, 'facts') or '{}')
  local new = cjson.decode(a.facts)
  local superseded = kept.request == 'wrap-up' and new.request == 'wrap-up'
    and tonumber(new.wrap_up_number or 1) < tonumber(kept.wrap_up_number or 1)
  if not superseded and not (kept.request == 'wrap-up' and new.request ~= 'wrap-up') then
    redis.call('HSET', entry, 'kind', a.kind, 'bundle', a.bundle, 'facts', a.facts)
    if a.notes ~= '' then redis.call('HSET', entry, 'notes', a.notes) end
    redis.call('HINCRBY', entry, 'version', 1)
  end
  if a.open == '1' then redis.call('HSET', entry, 'open', '1') end
  if status ~= 'pending' and not superseded then
    -- Settled already (delivered, or refused): what is new has still to be sent.
    event = 'reopened'
    redis.call('HSET', entry, 'status', 'pending', 'error', '')
    redis.call('HINCRBY', KEYS[4], status, -1)
    redis.call('ZREM', KEYS[5], a.case_id)
    redis.call('ZREM', KEYS[6], a.case_id)
    queue_for_replay()
  end
end
redis.call('XADD', KEYS[3], '*', 'event', event, 'case_id', a.case_id, 'kind', a.kind,
           'at', a.now)
return event == 'captured' and 1 or 0
"""

_OUTCOME = """
local a = cjson.decode(ARGV[1])
local entry = KEYS[1]
local status = redis.call('HGET', entry, 'status')
if status ~= 'pending' then return status or '' end
redis.call('HINCRBY', entry, 'attempts', 1)
-- The entry changed (its wrap-up kept) while what was sent was on its way: that answer does not
-- settle it; it waits, pending, with what is new.
if a.version ~= '' and (redis.call('HGET', entry, 'version') or '0') ~= a.version then
  return 'pending'
end
if a.outcome == 'unavailable' then
  redis.call('HSET', entry, 'error', a.error)
  return 'pending'
end
redis.call('ZREM', KEYS[2], a.case_id)
if a.outcome == 'failed' then
  redis.call('HSET', entry, 'status', 'failed', 'error', a.error)
  redis.call('ZADD', KEYS[5], tonumber(a.now), a.case_id)
else
  redis.call('HSET', entry, 'status', a.outcome, 'delivered', a.now, 'error', '')
  redis.call('ZADD', KEYS[6], tonumber(a.now), a.case_id)
end
redis.call('HINCRBY', KEYS[4], a.outcome, 1)
redis.call('XADD', KEYS[3], '*', 'event', a.outcome, 'case_id', a.case_id, 'at', a.now,
           'error', a.error)
return a.outcome
"""


# KEYS[1] the settled entries, KEYS[2] the walk's cursor, then entries the walk came to. The
# next `cursor`, the entries' key `prefix`. One delivered before SETTLED existed is added to it by
# when it was delivered; nothing pending or refused is.
_WALK = """
local a = cjson.decode(ARGV[1])
if redis.call('GET', KEYS[2]) == 'done' then return 0 end
local added = 0
for i = 3, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'delivered', 'captured', 'forgotten')
  if (f[1] == 'delivered' or f[1] == 'duplicate') and f[4] ~= '1' then
    local at = tonumber(f[2]) or tonumber(f[3]) or 0
    added = added + redis.call('ZADD', KEYS[1], 'NX', at, string.sub(KEYS[i], #a.prefix + 1))
  end
end
redis.call('SET', KEYS[2], a.cursor == '0' and 'done' or a.cursor)
return added
"""

# KEYS: the settled entries. `before` (settled before), the `most` to forget, the entries' `prefix`.
# A delivered entry keeps what the audit and the statistics need (case id, kind, status, times,
# attempts), never the caller's details, the bundle or the notes. Returns how many were taken and
# how many forgotten.
_FORGET = """
local a = cjson.decode(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', a.before, 'LIMIT', 0, tonumber(a.most))
local forgotten = 0
for _, id in ipairs(ids) do
  local entry = a.prefix .. id
  local status = redis.call('HGET', entry, 'status')
  if status == 'delivered' or status == 'duplicate' then
    redis.call('HSET', entry, 'facts', '{}', 'bundle', '{}', 'notes', '', 'error', '',
               'forgotten', '1')
    forgotten = forgotten + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return {#ids, forgotten}
"""


# KEYS: the agenda, the replay's hash. The replay's agenda `item`, `now`.
_START = f"""
local a = cjson.decode(ARGV[1])
local redeliver = tonumber(a.now) + {REDELIVER_SECONDS}
if redis.call('ZADD', KEYS[1], 'NX', redeliver, a.item) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'started', a.now, 'finished', '', 'next', a.now)
return 1
"""


class Journal:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._capture = redis.register_script(_CAPTURE)
        self._outcome = redis.register_script(_OUTCOME)
        self._start = redis.register_script(_START)
        self._forget = redis.register_script(_FORGET)
        self._walk = redis.register_script(_WALK)

    async def capture(
        self,
        case_id: str,
        kind: str,
        bundle: dict[str, Any],
        facts: dict[str, Any],
        now: float,
        open_case: bool = False,
        notes: str = "",
    ) -> bool:
        """Keep what would have been sent; True for a new entry (one per case). A case settled
        already (delivered, or refused) is queued for replay again with what is new."""
        argument = json.dumps(
            {
                "case_id": case_id,
                "kind": kind,
                "now": repr(now),
                "open": "1" if open_case else "0",
                "facts": json.dumps(facts),
                "bundle": json.dumps(bundle),
                "notes": notes,
                "open_first": OPEN_FIRST,
            }
        )
        return bool(
            await replicated(
                self.redis,
                "journal entry",
                lambda client: self._capture(
                    keys=script_keys(case_id), args=[argument], client=client
                ),
            )
        )

    async def outcome(
        self, case_id: str, outcome: str, now: float, error: str = "", version: int | None = None
    ) -> str:
        """A replay's result: `delivered`, `duplicate`, `failed` (refused), or `unavailable`
        (the system is down again: the entry stays where it is). With the `version` of the
        entry that was sent, an entry changed since stays pending."""
        args = {
            "case_id": case_id,
            "outcome": outcome,
            "now": repr(now),
            "error": error,
            "version": "" if version is None else str(version),
        }
        return str(await self._outcome(keys=script_keys(case_id), args=[json.dumps(args)]))

    async def next_pending(self, count: int = 1) -> list[str]:
        """What to replay next: open cases first, then by time."""
        return [str(case_id) for case_id in await self.redis.zrange(PENDING, 0, count - 1)]

    async def get(self, case_id: str) -> JournalEntry | None:
        fields = cast(dict[str, str], await self.redis.hgetall(keys.journal_entry(case_id)))
        return entry_from_hash(fields) if fields else None

    async def entries(
        self, status: EntryStatus | None = None, count: int = 500
    ) -> list[JournalEntry]:
        """Newest first, from the stream; and every entry still waiting (pending or refused),
        however long ago it was captured, after them."""
        ids = [
            str(fields["case_id"])
            for _, fields in cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrevrange(keys.JOURNAL, count=count * 4),
            )
            if fields.get("event") == "captured"
        ]
        waiting = [str(i) for i in await self.redis.zrange(PENDING, 0, count - 1)]
        waiting += [str(i) for i in await self.redis.zrevrange(FAILED, 0, count - 1)]
        listed = set(ids)
        ids += [case_id for case_id in waiting if case_id not in listed]
        async with self.redis.pipeline(transaction=False) as pipe:
            for case_id in ids:
                pipe.hgetall(keys.journal_entry(case_id))
            rows = cast(list[dict[str, str]], await pipe.execute())
        found = [entry_from_hash(row) for row in rows if row]
        return [entry for entry in found if status is None or entry.status is status][:count]

    async def forget_settled(
        self,
        before: float,
        batch: int = RETENTION_BATCH,
        batches: int = RETENTION_BATCHES,
        walk: int = WALK_KEYS,
    ) -> int:
        """Strip entries delivered before `before` of the patient's details, `batch` at a time;
        how many. Nothing pending or refused is touched. Entries delivered before they were
        indexed when settled are found by a walk over the keyspace, from where it last stopped."""
        prefix = keys.journal_entry("")
        forgotten = 0
        for _ in range(batches):
            walked = await self._walk_old(prefix, walk)
            taken, count = await self._forget(
                keys=[SETTLED], args=argument(before=before, most=batch, prefix=prefix)
            )
            forgotten += int(count)
            if not walked and int(taken) < batch:
                break
        return forgotten

    async def _walk_old(self, prefix: str, count: int) -> bool:
        """One step of the walk over entries settled before SETTLED; False once it is over."""
        cursor = await self.redis.get(WALKED)
        if cursor == "done":
            return False
        after, found = await self.redis.scan(
            int(cursor or 0), match=prefix + "*", count=count, _type="hash"
        )
        await self._walk(
            keys=[SETTLED, WALKED, *found], args=argument(cursor=str(after), prefix=prefix)
        )
        return int(after) != 0

    async def trim_stream(self, before_ms: int) -> int:
        """Drop the stream's events older than `before_ms` (its ids' time, in milliseconds);
        how many. Entries still waiting stay listed (`entries`) from their own sets."""
        return int(await self.redis.xtrim(keys.JOURNAL, minid=before_ms, approximate=False))

    async def progress(self) -> Progress:
        counts = cast(dict[str, str], await self.redis.hgetall(keys.JOURNAL_COUNTS))
        replay = cast(dict[str, str], await self.redis.hgetall(REPLAY))
        return Progress(
            captured=int(counts.get("captured", 0)),
            delivered=int(counts.get("delivered", 0)),
            duplicate=int(counts.get("duplicate", 0)),
            failed=int(counts.get("failed", 0)),
            pending=int(await self.redis.zcard(PENDING)),
            running=await self.redis.zscore(AGENDA, member(REPLAY_BATCH)) is not None,
            started=float(replay["started"]) if replay.get("started") else None,
            finished=float(replay["finished"]) if replay.get("finished") else None,
        )

    async def replay_started(self, now: float) -> bool:
        """Start a replay unless one is under way (one at a time, whatever the number of
        workers): its first batch is due at once, and on the agenda for the sweep should the
        job that started it not run it."""
        started = await self._start(
            keys=[AGENDA, REPLAY], args=argument(item=member(REPLAY_BATCH), now=now)
        )
        return bool(started)

    async def replay_batch(self) -> float | None:
        """Take the replay for one batch; returns when that batch was due, or None if no replay
        is under way or another batch is running."""
        if not await self.redis.set(REPLAY_LEASE, "1", nx=True, ex=REPLAY_LEASE_SECONDS):
            return None
        due = await self.redis.hget(REPLAY, "next")
        if await self.redis.zscore(AGENDA, member(REPLAY_BATCH)) is None or not due:
            await self.redis.delete(REPLAY_LEASE)  # finished meanwhile: a stray batch
            return None
        return float(due)

    async def replay_next(self, due: float) -> None:
        """The batch is done and more is pending: the next is due at `due`."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(REPLAY, "next", repr(due))
            pipe.zadd(AGENDA, {member(REPLAY_BATCH): due}, xx=True)
            pipe.delete(REPLAY_LEASE)
            await pipe.execute()

    async def replay_released(self) -> None:
        """The batch failed: the agenda hands the replay out again later."""
        await self.redis.delete(REPLAY_LEASE)

    async def replay_finished(self, now: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(AGENDA, member(REPLAY_BATCH))
            pipe.hset(REPLAY, mapping={"finished": repr(now), "next": ""})
            pipe.delete(REPLAY_LEASE)
            await pipe.execute()


def script_keys(case_id: str) -> list[str]:
    """What the capture and outcome scripts touch: the entry, the replay queue, the stream, the
    counts, the failures and the settled."""
    return [
        keys.journal_entry(case_id),
        PENDING,
        keys.JOURNAL,
        keys.JOURNAL_COUNTS,
        FAILED,
        SETTLED,
    ]


def entry_from_hash(fields: dict[str, str]) -> JournalEntry:
    return JournalEntry(
        case_id=fields["case_id"],
        kind=fields["kind"],
        captured=float(fields["captured"]),
        open=fields.get("open") == "1",
        status=EntryStatus(fields["status"]),
        facts=json.loads(fields.get("facts") or "{}"),
        bundle=json.loads(fields.get("bundle") or "{}"),
        notes=fields.get("notes", ""),
        attempts=int(fields.get("attempts", 0) or 0),
        error=fields.get("error", ""),
        delivered=float(fields["delivered"]) if fields.get("delivered") else None,
        version=int(fields.get("version", 0) or 0),
    )
