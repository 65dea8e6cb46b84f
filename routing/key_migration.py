"""Moving a Redis kept by an older Lifeline, whose keys began `ll:`, to today's prefix (`{ll}:`, a
hash tag): every key renamed, and the one key name kept inside a record (a callback's `to_key`,
the number it holds) rewritten. Run with every Lifeline process stopped (`lifeline keys migrate`):
a process still writing under the old names would write beside the moved ones, not into them.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from routing import keys
from routing.lua import argument

OLD_PREFIX = "ll:"
NEW_PREFIX = keys.PREFIX + ":"
SCAN_COUNT = 1000

# Renames one key unless the new name is taken (then it is left where it is, to be looked at),
# and rewrites a callback's `to_key` that names an old key. KEYS: old, new; both prefixes.
_MOVE = """
local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end  -- expired since it was listed
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
if redis.call('TYPE', KEYS[2])['ok'] == 'hash' then
  local to = redis.call('HGET', KEYS[2], 'to_key')
  if to and string.sub(to, 1, #a.old) == a.old then
    redis.call('HSET', KEYS[2], 'to_key', a.new .. string.sub(to, #a.old + 1))
  end
end
return 1
"""


# Keys an older Lifeline always has once it has run (the rule set it seeded, its accounts).
LEFT_BEHIND = (OLD_PREFIX + "rules:active", OLD_PREFIX + "users", OLD_PREFIX + "journal")


async def left_behind(redis: Redis) -> bool:
    """Whether this Redis still holds an older Lifeline's keys: then no process may start on it
    (it would write beside them, and the calls, callbacks and journal entries there would be
    lost to sight) until `lifeline keys migrate` has moved them."""
    return bool(await redis.exists(*LEFT_BEHIND))


class NotMigrated(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "this Redis holds keys of an older Lifeline (ll:...): stop every Lifeline process and "
            "run `lifeline keys migrate` first"
        )


@dataclass(frozen=True)
class Migrated:
    moved: int
    kept: list[str]  # old keys whose new name was taken: left as they were


async def migrate(redis: Redis) -> Migrated:
    """Every `ll:` key to `{ll}:`; running it again moves nothing more."""
    move = redis.register_script(_MOVE)
    moved, kept = 0, []
    old = [str(key) async for key in redis.scan_iter(match=OLD_PREFIX + "*", count=SCAN_COUNT)]
    for key in old:
        new = NEW_PREFIX + key.removeprefix(OLD_PREFIX)
        if await move(keys=[key, new], args=argument(old=OLD_PREFIX, new=NEW_PREFIX)):
            moved += 1
        elif await redis.exists(key):
            kept.append(key)
    return Migrated(moved, kept)
