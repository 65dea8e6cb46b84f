"""Every Redis key Lifeline uses, declared once, under one prefix.

The prefix is a hash tag (`{ll}`): on a Redis Cluster every Lifeline key would hash to one slot,
so that a script may reach keys it finds from what it reads (the assignment script reaches calls
and handlers that way), beside the fixed keys passed in `KEYS` (`routing.lua.Script`). One
primary is ample for a national line; README.md "Processes" says what else Cluster would need.
RQ's own keys (`rq:*`) are RQ's, not under the tag.
"""

from __future__ import annotations

PREFIX = "{ll}"
CALL_TTL_SECONDS = 2 * 24 * 3600  # a call's keys outlive any call by far
CALLER_TTL_SECONDS = 24 * 3600  # how long a caller counts as "contacted us recently"

MODE = f"{PREFIX}:mode"
MODE_EVENTS = f"{PREFIX}:mode:events"
OUTAGE_MESSAGE = f"{PREFIX}:mode:message"
CLINICAL_FAILURES = f"{PREFIX}:clinical:failures"  # failure times within the breaker's window
CLINICAL_STREAK = f"{PREFIX}:clinical:streak"  # healthy probes in a row while degraded
CLINICAL_HEALTH = f"{PREFIX}:clinical:health"  # every probe and job outcome, for people
JOURNAL = f"{PREFIX}:journal"  # the contingency journal: a durable stream, one entry per case
JOURNAL_COUNTS = f"{PREFIX}:journal:counts"
JOURNAL_PENDING = f"{JOURNAL}:pending"  # entries still to deliver
JOURNAL_FAILED = f"{JOURNAL}:failed"  # entries refused for good, for a person
JOURNAL_SETTLED = f"{JOURNAL}:settled"  # delivered entries, by when: forgotten after retention
# How far the walk over entries settled before JOURNAL_SETTLED existed has come (a SCAN cursor);
# "done" once it has been over them all (every entry delivered since is in JOURNAL_SETTLED).
JOURNAL_WALKED = f"{JOURNAL}:walked"
JOURNAL_REPLAY = f"{JOURNAL}:replay"  # started, finished, and when the next batch is due
JOURNAL_REPLAY_LEASE = f"{JOURNAL}:replay:lease"  # held by the batch running
CALL_OUTCOMES = f"{PREFIX}:stats:outcomes"  # how the line's calls ended, counted by outcome
RULES_ACTIVE = f"{PREFIX}:rules:active"
HANDLERS = f"{PREFIX}:handlers"
HEARTBEATS = f"{PREFIX}:handlers:heartbeats"
HANDLER_EVENTS = f"{PREFIX}:handler-events"
HANDLER_HISTORY_LENGTH = 5000  # state changes kept per handler: a week of shifts and more
RESERVED = f"{PREFIX}:reserved"  # queue members offered to a handler, scored by when
AUDIT = f"{PREFIX}:audit"
CALLBACKS = f"{PREFIX}:callbacks"  # every callback id, scored by when it was booked
CALLBACKS_SCHEDULED = f"{CALLBACKS}:scheduled"  # waiting out a retry's spacing, by when due
CALLBACKS_UNREACHABLE = f"{CALLBACKS}:unreachable"  # every attempt failed, by when
CALLBACKS_AT_RISK = f"{CALLBACKS}:at-risk"  # by when an urgent one is at risk of its target
CALLBACKS_CLOSED = f"{CALLBACKS}:closed"  # done or cancelled, by when: forgotten after retention
CALLBACKS_WALKED = f"{CALLBACKS}:walked"  # the booking time retention's walk has come to
RULES_VERSIONS = f"{PREFIX}:rules:versions"  # version numbers, scored by creation time
RULES_NEXT = f"{PREFIX}:rules:next"
RULES_QUEUES = f"{PREFIX}:rules:queues"  # the queues the active version serves, set with it
ON_DUTY_SCRATCH = f"{PREFIX}:tmp:on-duty"  # a script's scratch set, emptied before it returns
TOKENS = f"{PREFIX}:tokens"  # token id -> digest of the token


def token(token_digest: str) -> str:
    return f"{PREFIX}:token:{token_digest}"


def account_tokens(username: str) -> str:
    """The ids of an account's API tokens (revoked together when it is disabled)."""
    return f"{PREFIX}:account-tokens:{username}"


def rules_version(number: int) -> str:
    return f"{PREFIX}:rules:version:{number}"


def call(sid: str) -> str:
    return f"{PREFIX}:call:{sid}"


def queue(name: str) -> str:
    """A queue's members (calls by CallSid, callbacks by `callback_member`), scored by `score`."""
    return f"{PREFIX}:queue:{name}"


# A queue member's score: priority * SCORE_STEP + arrival in milliseconds, so that every
# priority 1 stands before every priority 2 (and so on), the earliest arrival first within one.
# The scripts compute it (routing/lua.py, `queue_score`, from this step).
SCORE_STEP = 10**13


def queue_prefix() -> str:
    return f"{PREFIX}:queue:"


def caller(number_digest: str) -> str:
    """Keyed by the number's keyed digest (routing/number_hash.py): no phone number in a key name,
    and none to be found again from one."""
    return f"{PREFIX}:caller:{number_digest}"


def handler(handler_id: str) -> str:
    return f"{PREFIX}:handler:{handler_id}"


def handler_history(handler_id: str) -> str:
    """A handler's own state changes (the floor-wide stream has everyone's)."""
    return f"{PREFIX}:handler-events:{handler_id}"


def handler_state(state: str) -> str:
    return f"{PREFIX}:handlers:{state}"


def skill(name: str) -> str:
    """Handlers with a skill, scored by their proficiency in it."""
    return f"{PREFIX}:skill:{name}"


def callback(callback_id: str) -> str:
    return f"{PREFIX}:callback:{callback_id}"


def callback_history(callback_id: str) -> str:
    """A callback's events (JSON, oldest first): booked, each attempt, at risk, closed."""
    return f"{callback(callback_id)}:history"


# A callback still to be made: waiting its turn, its retry's spacing, or on offer to a handler.
CALLBACK_TO_COME = ("pending", "scheduled", "reserved")
# A live callback: one still to be made, or being made now (`connected`). A caller, and a number
# called back, has one live callback at most; a caller who calls again is offered keep, worse or
# cancel only for one still to come.
LIVE_CALLBACK = (*CALLBACK_TO_COME, "connected")


def callback_to(number_digest: str) -> str:
    """The live callback to a number (by its keyed digest, as a caller's record is): one live
    callback per number called back, whoever asked for it. Removed when that callback closes."""
    return f"{PREFIX}:callback-to:{number_digest}"


CALLBACK_MEMBER = "cb:"  # a queue member that is a callback: this and its id (Lua has it from here)


def callback_member(callback_id: str) -> str:
    """A callback's entry in a queue, beside live calls (whose members are their CallSids)."""
    return f"{CALLBACK_MEMBER}{callback_id}"


def is_callback(member: str) -> bool:
    """Whether a queue member (or a handler's call) is a callback rather than a live call."""
    return member.startswith(CALLBACK_MEMBER)


def callback_id(member: str) -> str:
    """The id of the callback a queue member is (`is_callback`)."""
    return member.removeprefix(CALLBACK_MEMBER)


def record(member: str) -> str:
    """The record of a queue member: the callback's, or the live call's."""
    return callback(callback_id(member)) if is_callback(member) else call(member)


def journal_entry(case_id: str) -> str:
    return f"{PREFIX}:journal:entry:{case_id}"


# Console accounts and browser sessions.
USERS = f"{PREFIX}:users"  # every account's username


def user(username: str) -> str:
    return f"{PREFIX}:user:{username}"


def user_sessions(username: str) -> str:
    """The digests of a user's sessions, so that disabling an account ends them all."""
    return f"{PREFIX}:user:{username}:sessions"


def session(session_digest: str) -> str:
    """Keyed by a digest of the session id, so that Redis never holds a usable cookie."""
    return f"{PREFIX}:session:{session_digest}"


def login_failures(digest: str) -> str:
    """Failed sign-ins of a username (and client), counted over the limiter's window."""
    return f"{PREFIX}:login-failures:{digest}"


# Statistics: one sample per counted event, scored by when it happened on Lifeline's clock.
STATS_SAMPLES = f"{PREFIX}:stats:samples"
STATS_SEEN = f"{PREFIX}:stats:seen"  # `queue|kind|subject` of each event counted: once each
STATS_VERSION = f"{PREFIX}:stats:version"  # bumped by every change to the samples
STATS_KEEP_SECONDS = 2 * 24 * 3600  # both trimmed to this age as they are written; "today" < 25 h
# The clock the NHS reads on the way to a clinician: `requested|urgency|target|subject` when a
# handler decides the patient needs one, `reached|urgency|seconds|subject` when one speaks to
# them; scored by when, kept as long as the statistics.
CLINICIAN_CLOCK = f"{PREFIX}:stats:clinician"
# Calls in a warm transfer's room, scored by when they went in: the sweep looks at each.
WARM_ROOMS = f"{PREFIX}:warm-rooms"


def callback_dial(callback_id: str) -> str:
    """A callback's latest outbound call, recorded before Twilio is asked to place it, so that
    whoever places the next one first finds out what became of it (workers/callback_calls.py)."""
    return f"{PREFIX}:callback-dial:{callback_id}"


def dial_line(line_digest: str) -> str:
    """The calls placed from one number to another, by a keyed digest of the two (no number in a
    key name): the SIDs recorded, and the intents whose call is not yet known."""
    return f"{PREFIX}:dial-line:{line_digest}"


# The consoles' second factor (console/web/mfa.py) and the sign-in between password and code.
def user_recovery(username: str) -> str:
    """An account's unused recovery codes: each code's first group -> an argon2 hash of it."""
    return f"{PREFIX}:user:{username}:recovery"


def pending_sign_in(pending_digest: str) -> str:
    """A sign-in whose password was right and whose code is still to come (it expires in five
    minutes); keyed by a digest of its id, as sessions are."""
    return f"{PREFIX}:sign-in:{pending_digest}"


# Bookings made from the handler console (console/booking.py, routing/bookings.py).
def booking(case_id: str) -> str:
    """A case's booking as its handler sees it: the free slots offered, the one chosen (fixed
    until the clinical system has said whether it was booked), and the outcome."""
    return f"{PREFIX}:booking:{case_id}"


def slot_hold(slot: str) -> str:
    """A slot of the clinical system (`Slot/<id>`) chosen for a case, held for it (a few minutes,
    or while it is perhaps booked) so that no other handler chooses it meanwhile: the case id."""
    return f"{PREFIX}:slot-hold:{slot}"


# The worker side's own state.
# Durable writes whose WAIT for the replicas timed out, counted by what (routing/replicated.py).
REPLICATION_TIMEOUTS = f"{PREFIX}:replication:timeouts"
AGENDA = f"{PREFIX}:agenda"  # item (JSON) -> when due, on Lifeline's clock (routing/agenda.py)
CPS_NEXT = f"{PREFIX}:cps:next"  # the next moment a call may be placed (workers/ratelimit.py)


def cps_held(holder: str) -> str:
    """A moment to place a call, taken by `holder` (a job) and kept for its retry."""
    return f"{PREFIX}:cps:held:{holder}"


def connect_claim(member: str, offer: int) -> str:
    """Set by the one connect job that redirects a reserved caller for that offer."""
    return f"{PREFIX}:connect-claim:{member}:{offer}"


SIMULATIONS = f"{PREFIX}:simulations"  # what-if runs' ids, scored by when asked for
SIMULATION_TTL_SECONDS = 30 * 24 * 3600  # a what-if's figures are kept a month


def simulation(simulation_id: str) -> str:
    """A what-if run: what was asked, its progress, and its comparison once done."""
    return f"{PREFIX}:simulation:{simulation_id}"


def recorded_day(day: str) -> str:
    """The calls of a day (London, YYYY-MM-DD) as the simulator replays them: each one's start,
    arrival in the queue, line and answers (no number), by arrival. Patient data: kept for the
    retention period (RETENTION_DAYS), then gone."""
    return f"{PREFIX}:recorded:{day}"


def cron_claim(job_name: str) -> str:
    """Prefix of a periodic job's claims, one a period (workers/cron.py): `:` and the period."""
    return f"{PREFIX}:cron:{job_name}"


# Call recordings (routing/recordings.py): what Twilio recorded, found again by a supervisor.
RECORDINGS = f"{PREFIX}:recordings"  # every recording's sid, scored by when it started


def recording(sid: str) -> str:
    """A recording: whose call, which case and handler, how long (JSON). Not the audio, which
    stays at Twilio until the retention period deletes it there."""
    return f"{PREFIX}:recording:{sid}"


def recordings_by(field: str, value: str) -> str:
    """The recordings of one case, handler, or caller's last digits, scored by when."""
    return f"{RECORDINGS}:{field}:{value}"


def callback_leg(call_sid: str) -> str:
    """The callback whose first leg is this call (it runs the recorded `<Dial>`): so that a
    recording of it found in Twilio's list is known to be a callback's. Kept as a call is."""
    return f"{PREFIX}:callback-leg:{call_sid}"


def recording_played(actor: str, sid: str) -> str:
    """Set when a person's playback of a recording is audited (for a while): the ranges their
    player goes on to ask for are the same playback."""
    return f"{PREFIX}:recording-played:{sid}:{actor}"


def feedback_day(day: str) -> str:
    """A day's Friends and Family Test answers (London, YYYY-MM-DD), counted by queue, handler
    and answer (routing/feedback.py)."""
    return f"{PREFIX}:feedback:{day}"


def feedback_answered(call_sid: str) -> str:
    """Set when a call's answer is counted: a repeated webhook counts it once."""
    return f"{PREFIX}:feedback:answered:{call_sid}"
