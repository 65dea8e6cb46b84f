"""The atomic steps of a callback's life, as Lua that Redis runs whole: booking, an attempt's
outcome, done, cancel, a new class, retries coming due, and targets at risk.

Each script takes one JSON argument (`id`, `now` and what the step needs); see
`routing.callbacks.Callbacks`, which runs them.
"""

from __future__ import annotations

from routing.lua import MOVE_HANDLER, STATS, script

PRELUDE = script(
    """
local key = K.callback .. a.id
local function history(event, detail)
  redis.call('RPUSH', history_of(key), cjson.encode({at = tonumber(NOW), event = event,
                                                       detail = detail or {}}))
end
local function score_of(priority, arrival, at_risk)
  local ms = math.floor(tonumber(arrival) * 1000)
  if at_risk == '1' then ms = ms - a.at_risk_shift end
  return queue_score(priority, ms)
end
local function live(id)
  local state = id and redis.call('HGET', K.callback .. id, 'status')
  return state and LIVE_CALLBACK[state] or false
end
-- This callback is over (done, cancelled, unreachable): its number may be called back again.
local function release_number()
  local to = redis.call('HGET', key, 'to_key')
  if to and redis.call('GET', to) == a.id then redis.call('DEL', to) end
end
""",
    MOVE_HANDLER,
    STATS,
)

# Turn a queued call into a callback in one step: it takes over the call's queue entry (same
# score, same place); the call is counted once as "callback"; the caller's record points at it,
# and so does the number's (KEYS[3]). A caller who has a live callback already keeps that one
# (one live callback per caller): the call leaves the queue all the same, ended as that
# callback's, so it is not counted abandoned. One live callback per number called back, too: a
# number with another caller's is refused, `taken`, and the call stays queued in its place,
# counting the numbers it has had refused.
CONVERT = (
    PRELUDE
    + """
local call = K.call .. a.sid
-- A caller sent on to a clinician: the callback carries the clock to one, its deadline (from the
-- handler's decision) and the handler's notes; the call's clock is over.
local function carry_clinician(id)
  local c = redis.call('HMGET', call, unpack(CLINICIAN_FIELDS))
  if not c[1] or c[1] == '' then return false end
  local k = K.callback .. id
  local since, target = tonumber(c[1]), tonumber(c[3])
  redis.call('HSET', k, 'clinician_since', c[1], 'clinician_urgency', c[2],
             'clinician_target', c[3], 'clinician_subject', c[4], 'clinician_skill', c[5] or '',
             'urgency', c[2], 'due_by', tostring(since + target))
  redis.call('ZADD', K.CALLBACKS_AT_RISK, since + target * a.at_risk_after, id)
  local asked = redis.call('HGET', call, 'sent_on')
  if asked then
    local transfer = cjson.decode(asked)
    redis.call('HSET', k, 'notes', transfer.notes or '', 'asked_by', transfer.by or '')
  end
  redis.call('HDEL', call, 'clinician_since')
  return true
end
local status = redis.call('HGET', call, 'status')
if status == 'callback' then
  local id = redis.call('HGET', call, 'callback')
  return {id, id == a.id and 'booked' or 'kept'}
end
if status ~= 'queued' then return false end
local queue = redis.call('HGET', call, 'queue')
local score = redis.call('ZSCORE', K.queue .. queue, a.sid)
if not score then return false end
local existing = a.caller ~= '' and redis.call('HGET', KEYS[1], 'callback')
if not live(existing) then
  local to = redis.call('GET', KEYS[3])
  if live(to) then
    if redis.call('HGET', K.callback .. to, 'caller') ~= a.caller then
      return {'', 'taken', redis.call('HINCRBY', call, 'numbers_refused', 1)}
    end
    existing = to  -- theirs, booked when their own record had lapsed
  end
end
if live(existing) then
  local e = K.callback .. existing
  if carry_clinician(existing) then
    -- Their callback to come moves to this call's place, with the clinicians, at its class.
    local f = redis.call('HMGET', call, 'placement', 'priority', 'arrival')
    local status = redis.call('HGET', e, 'status')
    local old = redis.call('HGET', e, 'queue')
    redis.call('HSET', e, 'placement', f[1], 'priority', f[2], 'arrival', f[3], 'queue', queue,
               'score', score)
    if status == 'pending' then
      redis.call('ZREM', K.queue .. old, callback_member(existing))
      redis.call('ZADD', K.queue .. queue, score, callback_member(existing))
    end
  end
  redis.call('ZREM', K.queue .. queue, a.sid)
  redis.call('HSET', call, 'status', 'callback', 'callback', existing, 'ended', NOW,
             'outcome', 'callback')
  redis.call('HINCRBY', KEYS[2], 'callback', 1)
  redis.call('RPUSH', history_of(K.callback .. existing),
             cjson.encode({at = tonumber(NOW), event = 'asked again', detail = {}}))
  return {existing, 'kept'}
end
local f = redis.call('HMGET', call, 'case_id', 'placement', 'arrival', 'locale', 'priority', 'line',
                     'answers')
redis.call('HSET', key, 'id', a.id, 'case_id', f[1], 'call_sid', a.sid, 'number', a.number,
           'placement', f[2], 'arrival', f[3], 'locale', f[4], 'priority', f[5], 'queue', queue,
           'line', f[6], 'caller', a.caller, 'created', NOW, 'status', 'pending', 'attempts', 0,
           'due_by', a.due_by, 'at_risk', '0', 'score', score, 'answers', f[7] or '',
           'to_key', KEYS[3])
redis.call('SET', KEYS[3], a.id)
redis.call('ZREM', K.queue .. queue, a.sid)
redis.call('ZADD', K.queue .. queue, score, callback_member(a.id))
redis.call('ZADD', K.CALLBACKS, tonumber(NOW), a.id)
if a.at_risk_at ~= '' then redis.call('ZADD', K.CALLBACKS_AT_RISK, a.at_risk_at, a.id) end
carry_clinician(a.id)
redis.call('HSET', call, 'status', 'callback', 'callback', a.id, 'ended', NOW,
           'outcome', 'callback')
redis.call('HINCRBY', KEYS[2], 'callback', 1)
count('callbacks', f[5], 'accepted', 1)
if a.caller ~= '' then
  redis.call('HSET', KEYS[1], 'sid', a.sid, 'case_id', f[1], 'callback', a.id)
  redis.call('EXPIRE', KEYS[1], a.caller_ttl)
end
history('booked', {number_ending = string.sub(a.number, -3)})
return {a.id, 'booked'}
"""
)

# A clinician's callback a handler arranges for their caller (on the call, or wrapping it up): a
# new callback in the clinicians' queue at the urgency's class, placed by the call's arrival, due
# by the urgency's target from now, which starts the clock to a clinician. One per call (the same
# again is `again`); one live callback per number (a number with one is `taken`, with its id).
# KEYS[1] the caller's record, KEYS[2] the number's.
CLINICIAN = (
    PRELUDE
    + """
local call = K.call .. a.sid
local f = redis.call('HMGET', call, 'case_id', 'arrival', 'created', 'locale', 'line', 'answers',
                     'clinician_callback')
if not f[1] then return {'', 'unknown'} end
if f[7] and f[7] ~= '' then return {f[7], 'again'} end
local to = redis.call('GET', KEYS[2])
if live(to) then return {to, 'taken'} end
local arrival = f[2] or f[3]
local score = score_of(a.priority, arrival, '0')
redis.call('HSET', key, 'id', a.id, 'case_id', f[1], 'call_sid', a.sid, 'number', a.number,
           'placement', a.placement, 'arrival', arrival, 'locale', f[4], 'priority', a.priority,
           'queue', a.queue, 'line', f[5], 'caller', a.caller, 'created', NOW,
           'status', 'pending', 'attempts', 0, 'due_by', a.due_by, 'at_risk', '0',
           'score', score, 'answers', f[6] or '', 'to_key', KEYS[2], 'notes', a.notes,
           'asked_by', a.handler, 'urgency', a.urgency)
redis.call('SET', KEYS[2], a.id)
redis.call('ZADD', K.queue .. a.queue, score, callback_member(a.id))
redis.call('ZADD', K.CALLBACKS, tonumber(NOW), a.id)
redis.call('ZADD', K.CALLBACKS_AT_RISK, a.at_risk_at, a.id)
redis.call('HSET', call, 'clinician_callback', a.id)
if a.caller ~= '' then
  redis.call('HSET', KEYS[1], 'sid', a.sid, 'case_id', f[1], 'callback', a.id)
  redis.call('EXPIRE', KEYS[1], a.caller_ttl)
end
count('callbacks', a.priority, 'accepted', 1)
clinician_requested(key, a.urgency, a.target, a.id, a.skill)
history('booked', {number_ending = string.sub(a.number, -3), by = a.handler,
                   urgency = a.urgency})
return {a.id, 'booked'}
"""
)

# The outcome of trying the patient on an offer: reached (connected to the handler), or not
# (tried again later by the rule set's spacing, or, attempts used up, left for a clinician).
ATTEMPT = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'handler', 'offers', 'attempts', 'priority', 'due_by')
if f[1] ~= 'reserved' or f[2] ~= a.handler or tonumber(f[3]) ~= a.offer then return 'stale' end
local attempts = tonumber(f[4]) + 1
redis.call('HSET', key, 'attempts', attempts)
redis.call('ZREM', K.RESERVED, callback_member(a.id))
local hkey = K.handler .. a.handler
local holding = redis.call('HGET', hkey, 'state') == 'reserved' and
                redis.call('HGET', hkey, 'call') == callback_member(a.id)
if a.outcome == 'answered' then
  redis.call('HSET', key, 'status', 'connected', 'connected_at', NOW)
  if holding then
    move(a.handler, 'reserved', 'busy', '')
    redis.call('HINCRBY', hkey, 'calls', 1)
    redis.call('HSET', hkey, 'missed', 0)
  end
  clinician_reached(key, a.handler)  -- a clinician's callback: the clinician speaks to them now
  count('callbacks', f[5], 'made', 1)
  if f[6] == '' or tonumber(NOW) <= tonumber(f[6]) then
    count('callbacks', f[5], 'made_on_time', 1)
  end
  history('connected', {attempt = attempts, handler = a.handler})
  return 'connected'
end
if holding then
  move(a.handler, 'reserved', 'available', '')
  redis.call('HSET', hkey, 'call', '')
end
redis.call('HSET', key, 'handler', '')
history('not reached', {attempt = attempts, outcome = a.outcome})
if attempts < a.max_attempts then
  local when = tonumber(NOW) + a.spacing
  redis.call('HSET', key, 'status', 'scheduled', 'not_before', tostring(when))
  redis.call('ZADD', K.CALLBACKS_SCHEDULED, when, a.id)
  return 'scheduled'
end
redis.call('HSET', key, 'status', 'unreachable', 'ended_at', NOW)
redis.call('ZADD', K.CALLBACKS_UNREACHABLE, tonumber(NOW), a.id)
release_number()
count('callbacks', f[5], 'unreachable', 1)
history('unreachable', {attempts = attempts})
return 'unreachable'
"""
)

# The conversation is over: the callback is done and the handler wraps up.
DONE = (
    PRELUDE
    + """
if redis.call('HGET', key, 'status') ~= 'connected' then return 0 end
redis.call('HSET', key, 'status', 'done', 'ended_at', NOW)
release_number()
redis.call('ZREM', K.CALLBACKS_AT_RISK, a.id)
redis.call('ZADD', K.CALLBACKS_CLOSED, tonumber(NOW), a.id)
local handler = redis.call('HGET', key, 'handler')
local hkey = K.handler .. (handler or '')
if handler and handler ~= '' and redis.call('HGET', hkey, 'state') == 'busy' and
   redis.call('HGET', hkey, 'call') == callback_member(a.id) then
  move(handler, 'busy', 'wrap_up', '')
end
history('done', {})
return 1
"""
)

# Cancel (by the caller, or a supervisor): only while it is not being dialled.
CANCEL = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'queue', 'caller', 'priority')
if not f[1] then return 'unknown' end
if f[1] == 'cancelled' then return 'cancelled already' end
if f[1] ~= 'pending' and f[1] ~= 'scheduled' and f[1] ~= 'unreachable' then return f[1] end
redis.call('ZREM', K.queue .. f[2], callback_member(a.id))
redis.call('ZREM', K.CALLBACKS_SCHEDULED, a.id)
redis.call('ZREM', K.CALLBACKS_UNREACHABLE, a.id)
redis.call('ZREM', K.CALLBACKS_AT_RISK, a.id)
redis.call('HSET', key, 'status', 'cancelled', 'ended_at', NOW, 'reason', a.reason)
release_number()
redis.call('ZADD', K.CALLBACKS_CLOSED, tonumber(NOW), a.id)
if KEYS[1] ~= '' and redis.call('HGET', KEYS[1], 'callback') == a.id then
  redis.call('HDEL', KEYS[1], 'callback')
end
count('callbacks', f[4], 'cancelled', 1)
history('cancelled', {by = a.actor, reason = a.reason})
return 'cancelled'
"""
)

# A new priority class (a supervisor, or the caller saying it is worse); the callback keeps its
# original arrival time within the new class. For an unreachable callback this is a clinician
# deciding to try again: it goes back in the queue, pending, with a fresh set of attempts (and
# the caller's again, and the number's), unless the caller has since booked another (one live
# callback per caller: `superseded`), or another caller one to its number (one live callback
# per number: `number taken`). Returns the status after the change, or why there was none.
REPRIORITISE = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'queue', 'arrival', 'priority', 'at_risk', 'placement',
                     'attempts')
if not f[1] then return 'unknown' end
if f[1] ~= 'pending' and f[1] ~= 'scheduled' and f[1] ~= 'unreachable' then return f[1] end
local status = f[1]
local to = redis.call('HGET', key, 'to_key')
if status == 'unreachable' then
  local current = KEYS[1] ~= '' and redis.call('HGET', KEYS[1], 'callback')
  if current and current ~= a.id and live(current) then return 'superseded' end
  local holder = to and redis.call('GET', to)
  if holder and holder ~= a.id and live(holder) then return 'number taken' end
  status = 'pending'
end
local placement = cjson.decode(f[6])
placement.priority = a.priority
local score = score_of(a.priority, f[3], f[5])
redis.call('HSET', key, 'priority', a.priority, 'placement', cjson.encode(placement),
           'score', score, 'due_by', a.due_by)
redis.call('ZREM', K.CALLBACKS_AT_RISK, a.id)
if a.at_risk_at ~= '' and f[5] ~= '1' then
  redis.call('ZADD', K.CALLBACKS_AT_RISK, a.at_risk_at, a.id)
end
if status == 'pending' then redis.call('ZADD', K.queue .. f[2], score, callback_member(a.id)) end
history('priority', {from = tonumber(f[4]), to = a.priority, by = a.actor, reason = a.reason})
if f[1] == 'unreachable' then
  redis.call('ZREM', K.CALLBACKS_UNREACHABLE, a.id)
  redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'not_before', '', 'ended_at', '')
  if KEYS[1] ~= '' then
    redis.call('HSET', KEYS[1], 'callback', a.id)
    redis.call('EXPIRE', KEYS[1], a.caller_ttl)
  end
  if to then redis.call('SET', to, a.id) end
  history('back in queue', {by = a.actor, attempts_before = tonumber(f[7])})
end
return status
"""
)

# The offer's call waits for its calling slot (workers/callback_calls.py): the offer's time runs
# from that moment, `at`, so that the sweep does not take back an offer only waiting its turn to
# call (once an offer). Only the live offer; 1 if it was this one.
SLOT = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'handler', 'offers', 'slot_offer')
if f[1] ~= 'reserved' or f[2] ~= a.handler or tonumber(f[3]) ~= a.offer then return 0 end
-- Once an offer: a run that has to take a new slot (Twilio said 429, the line was busy) does
-- not push its offer's time on again, so that the sweep still takes back an offer stuck so.
if tonumber(f[4]) == a.offer then return 1 end
redis.call('HSET', key, 'slot_offer', a.offer)
redis.call('ZADD', K.RESERVED, 'XX', 'GT', a.at, callback_member(a.id))
return 1
"""
)

# No calling slot soon (the outbound limit is taken for minutes ahead): a callback back in its
# place waits there, out of the handlers' reach, until `not_before`, so that free handlers are not
# offered it again and again meanwhile. No attempt is counted: nobody was rung. 1 if held back.
HOLD_BACK = (
    PRELUDE
    + """
local f = redis.call('HMGET', key, 'status', 'queue')
if f[1] ~= 'pending' then return 0 end
redis.call('ZREM', K.queue .. f[2], callback_member(a.id))
redis.call('HSET', key, 'status', 'scheduled', 'not_before', a.not_before)
redis.call('ZADD', K.CALLBACKS_SCHEDULED, tonumber(a.not_before), a.id)
history('no calling slot', {not_before = tonumber(a.not_before)})
return 1
"""
)

# Retries whose time has come go back into their queue, at their place.
DUE = (
    PRELUDE
    + """
local due = redis.call('ZRANGEBYSCORE', K.CALLBACKS_SCHEDULED, '-inf', NOW)
for _, id in ipairs(due) do
  local k = K.callback .. id
  local f = redis.call('HMGET', k, 'status', 'queue', 'priority', 'arrival', 'at_risk')
  redis.call('ZREM', K.CALLBACKS_SCHEDULED, id)
  if f[1] == 'scheduled' then
    local score = score_of(f[3], f[4], f[5])
    redis.call('HSET', k, 'status', 'pending', 'score', score)
    redis.call('ZADD', K.queue .. f[2], score, callback_member(id))
    redis.call('RPUSH', history_of(k),
               cjson.encode({at = tonumber(NOW), event = 'due', detail = {}}))
  end
end
return #due
"""
)

# Callbacks past the at-risk point of their target move up: a class up (never to 1), or, already
# urgent, ahead of their class. Returns the ids raised.
AT_RISK = (
    PRELUDE
    + """
local raised = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.CALLBACKS_AT_RISK, '-inf', NOW)) do
  redis.call('ZREM', K.CALLBACKS_AT_RISK, id)
  local k = K.callback .. id
  local f = redis.call('HMGET', k, 'status', 'queue', 'priority', 'arrival', 'placement')
  if f[1] == 'pending' or f[1] == 'scheduled' then
    local priority = math.max(2, tonumber(f[3]) - 1)
    local placement = cjson.decode(f[5])
    placement.priority = priority
    local score = score_of(priority, f[4], '1')
    redis.call('HSET', k, 'priority', priority, 'at_risk', '1', 'score', score,
               'placement', cjson.encode(placement))
    if f[1] == 'pending' then redis.call('ZADD', K.queue .. f[2], score, callback_member(id)) end
    redis.call('RPUSH', history_of(k), cjson.encode({at = tonumber(NOW), event = 'at risk',
                                                     detail = {priority = priority}}))
    table.insert(raised, id)
  end
end
return raised
"""
)
