"""Call recordings. Twilio records the bridged conversation (a caller with their handler, a
callback, an emergency put through to the dispatch line) and tells Lifeline through the
recording status callback; Lifeline keeps whose call it was, so that a supervisor can find it by
case, caller's last digits, handler or time, and plays it through the console (the audio stays
at Twilio). After the retention period the recording is deleted at Twilio and forgotten here;
the audit log keeps that it was."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from routing import keys
from routing.audit import AUDIT_MAXLEN
from routing.models import CallRecord
from routing.replicated import replicated

DIGITS = 3  # the caller's last digits kept and searched by: what screens show (models.mask)
SEARCH_LIMIT = 200


class RecordingKind(StrEnum):
    CALL = "call"  # a caller put through to their handler
    CALLBACK = "callback"  # a callback, patient and handler
    DISPATCH = "dispatch"  # an emergency put through to the dispatch line
    ROOM = "room"  # a warm transfer's room (caller, handler, clinician or dispatcher), mixed


class RecordingStatus(StrEnum):
    COMPLETED = "completed"
    ABSENT = "absent"  # Twilio found no audio to keep
    FAILED = "failed"


class Recording(BaseModel):
    sid: str
    call_sid: str  # the call that ran the recorded <Dial>
    kind: RecordingKind
    case_id: str
    handler: str = ""
    digits: str = ""  # the patient's number's last digits; "" when withheld
    queue: str = ""
    started: float
    duration: int
    channels: int = 2
    status: RecordingStatus = RecordingStatus.COMPLETED
    error_code: str = ""

    @property
    def playable(self) -> bool:
        return self.status is RecordingStatus.COMPLETED


class Search(BaseModel):
    """What a supervisor looks for: every field given must match. Times in epoch seconds."""

    case_id: str = ""
    digits: str = ""
    handler: str = ""
    since: float | None = None
    until: float | None = None
    limit: int = SEARCH_LIMIT


def last_digits(number: str) -> str:
    return number[-DIGITS:] if len(number) > DIGITS else ""


def about_call(record: CallRecord | None) -> dict[str, str]:
    """What a recording keeps of the caller's call: their case, last digits, queue."""
    if record is None:
        return {}
    queue = record.placement.queue if record.placement is not None else ""
    return {"case_id": record.case_id, "digits": last_digits(record.caller), "queue": queue}


# KEYS: the recording, then its indexes. ARGV: the recording, when it started, its sid.
_ADD_NEW = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
for i = 2, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3]) end
return 1
"""


# KEYS: the recordings, their indexes, the audit stream. ARGV: how many of each, the stream's
# length, the sids (JSON), then the audit record's fields and values.
_FORGET = """
local recordings, indexes = tonumber(ARGV[1]), tonumber(ARGV[2])
local sids = cjson.decode(ARGV[4])
for i = 1, recordings do redis.call('DEL', KEYS[i]) end
for i = recordings + 1, recordings + indexes do redis.call('ZREM', KEYS[i], unpack(sids)) end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
"""


class Recordings:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._add_new = redis.register_script(_ADD_NEW)
        self._forget = redis.register_script(_FORGET)

    def _indexes(self, recording: Recording) -> list[str]:
        found = [keys.RECORDINGS]
        if recording.case_id:
            found.append(keys.recordings_by("case", recording.case_id))
        if recording.handler:
            found.append(keys.recordings_by("handler", recording.handler))
        if recording.digits:
            found.append(keys.recordings_by("digits", recording.digits))
        return found

    async def add(self, recording: Recording) -> None:
        """Kept, and found by each way a supervisor searches. The same recording told twice
        (Twilio retries a callback) is one; told again with more (the callback after the sweep
        found it), it is kept as told, out of the indexes it no longer belongs in."""
        before = await self.get(recording.sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            if before is not None:
                for index in set(self._indexes(before)) - set(self._indexes(recording)):
                    pipe.zrem(index, recording.sid)
            pipe.set(keys.recording(recording.sid), recording.model_dump_json())
            for index in self._indexes(recording):
                pipe.zadd(index, {recording.sid: recording.started})
            await pipe.execute()

    async def add_if_new(self, recording: Recording) -> bool:
        """Kept, unless Lifeline knows it already (told by Twilio's callback, which knows more):
        whether it was new. Kept and indexed in one step."""
        indexes = self._indexes(recording)
        added = await self._add_new(
            keys=[keys.recording(recording.sid), *indexes],
            args=[recording.model_dump_json(), recording.started, recording.sid],
        )
        return bool(added)

    async def get(self, sid: str) -> Recording | None:
        found = await self.redis.get(keys.recording(sid))
        return Recording.model_validate_json(found) if found else None

    async def _load(self, sids: Sequence[str]) -> list[Recording]:
        if not sids:
            return []
        found = await self.redis.mget([keys.recording(sid) for sid in sids])
        return [Recording.model_validate_json(item) for item in found if item]

    async def search(self, query: Search) -> list[Recording]:
        """Newest first: from the narrowest index the query names, then every field checked."""
        if query.case_id:
            index = keys.recordings_by("case", query.case_id)
        elif query.digits:
            index = keys.recordings_by("digits", query.digits[-DIGITS:])
        elif query.handler:
            index = keys.recordings_by("handler", query.handler)
        else:
            index = keys.RECORDINGS
        low = query.since if query.since is not None else "-inf"
        high = query.until if query.until is not None else "+inf"
        matched: list[Recording] = []
        start = 0
        page = max(query.limit, 50)
        while len(matched) < query.limit:
            sids = cast(
                list[str],
                await self.redis.zrevrangebyscore(index, high, low, start=start, num=page),
            )
            matched += [item for item in await self._load(sids) if _matches(item, query)]
            if len(sids) < page:
                break
            start += page
        return matched[: query.limit]

    async def older_than(self, before: float, count: int = 100, skip: int = 0) -> list[Recording]:
        """The oldest recordings that started before `before`, past the first `skip`."""
        sids = cast(
            list[str],
            await self.redis.zrangebyscore(keys.RECORDINGS, "-inf", f"({before}", skip, count),
        )
        loaded = await self._load(sids)
        missing = set(sids) - {item.sid for item in loaded}
        if missing:  # an index entry whose record is gone: nothing to delete at Twilio
            await self.redis.zrem(keys.RECORDINGS, *missing)
        return loaded

    async def forget_audited(self, gone: Sequence[Recording], audit: dict[str, str]) -> None:
        """Recordings deleted at Twilio forgotten, and the audit record that says so written, in
        one step: a worker killed on the way leaves both undone (the next run finds them gone at
        Twilio and does both), never one twice. Acknowledged once replicated, as audit records
        are."""
        keys_of = [keys.recording(item.sid) for item in gone]
        indexes = sorted({index for item in gone for index in self._indexes(item)})
        sids = [item.sid for item in gone]
        fields = [part for pair in audit.items() for part in pair]
        await replicated(
            self.redis,
            "audit",
            lambda client: self._forget(
                keys=[*keys_of, *indexes, keys.AUDIT],
                args=[len(keys_of), len(indexes), AUDIT_MAXLEN, json.dumps(sids), *fields],
                client=client,
            ),
        )

    async def forget(self, recording: Recording) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.recording(recording.sid))
            for index in self._indexes(recording):
                pipe.zrem(index, recording.sid)
            await pipe.execute()


def _matches(recording: Recording, query: Search) -> bool:
    return (
        (not query.case_id or recording.case_id == query.case_id)
        and (not query.digits or recording.digits.endswith(query.digits[-DIGITS:]))
        and (not query.handler or recording.handler == query.handler)
    )
