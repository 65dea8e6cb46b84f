"""The only way jobs are enqueued: typed helpers that set ids, retries, timeouts and TTLs.

Job ids are deterministic, so the same work enqueued twice (two processes racing, a retried
webhook) is the same job, and each job finds out what an earlier run did before it acts.

RQ's client is synchronous. From async code (the webhooks, the consoles, async jobs) enqueue with
`off_loop`: it runs them on a few threads of `Jobs`' own, which only enqueues use, so a
full shared pool (`asyncio.to_thread`'s, where sign-ins hash passwords) never holds up a webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import ParamSpec, TypeVar

import redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from routing import keys
from routing.assignment import Offer
from routing.bookings import CONFIRM_AFTER_SECONDS
from routing.cases import ClinicalCase
from workers.job_queues import SERIALIZER, JobQueue, queue_of

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

HAND_OFF_SECONDS = 0.25  # what a webhook waits for an enqueue (one takes a millisecond or two)
ENQUEUE_THREADS = 4  # an enqueue is a Redis round trip or two: a few threads carry any load
DEFAULT_RETENTION_DAYS = 30  # RETENTION_DAYS's default
REPLAY_JOB_TIMEOUT = 15  # shorter than the replay's lease (routing.journal)
CALL_RETRY = Retry(max=3, interval=[1, 2, 4])  # a REST request a caller waits on


def _log_failure(what: str, future: asyncio.Future[object]) -> None:
    error = None if future.cancelled() else future.exception()
    if error is not None:
        log.warning("%s not queued: %s", what, error)


class Jobs:
    def __init__(
        self,
        connection: redis.Redis,
        threads: int = ENQUEUE_THREADS,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.connection = connection
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="enqueue")
        # A case's job carries the caller's number, answers and the handler's notes: one that
        # failed for good keeps them no longer than any record of the patient is kept.
        self.case_failure_ttl = min(30, retention_days) * 24 * 3600

    def close(self) -> None:
        self._threads.shutdown(wait=False)

    def queue(self, name: JobQueue) -> Queue:
        return queue_of(name, self.connection)

    async def off_loop(self, enqueue: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """From async code: `await jobs.off_loop(jobs.send_case, ...)`, on `Jobs`' own threads."""
        work = partial(enqueue, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    async def hand_off(
        self, what: str, enqueue: Callable[P, object], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """From a webhook, which a caller waits on: `off_loop`, waited on for `HAND_OFF_SECONDS`
        at most. An enqueue slower than that (Redis gone quiet) goes on by itself, and whether
        it failed, then or later, is logged (as `what`), never raised to the caller's webhook."""
        work = partial(enqueue, *args, **kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._threads, work)
        future.add_done_callback(partial(_log_failure, what))
        with contextlib.suppress(TimeoutError, RedisError):
            await asyncio.wait_for(asyncio.shield(future), HAND_OFF_SECONDS)

    def queued(self, job_id: str) -> bool:
        """Whether a job of that id waits in its queue (enqueued again, it would run twice). One
        that started may have died with its worker (RQ says so only minutes later): each job
        finds out what an earlier run did, so it is enqueued again."""
        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=SERIALIZER)
        except NoSuchJobError:
            return False
        return job.get_status(refresh=False) == JobStatus.QUEUED

    def connect(self, offer: Offer) -> Job:
        """Connect a reserved call to its handler (a REST redirect to the connect TwiML), or place
        a reserved callback (an outbound call)."""
        return self._connect(offer.member, offer.handler, offer.offer)

    def _connect(self, member: str, handler: str, offer: int) -> Job:
        # A callback's placing waits on Twilio's REST API, for seconds when it is slow: on a
        # queue (and a pool) of its own, it never stands before a caller waiting on the line,
        # whose connect goes to the front of theirs, ahead of the sweep and the agenda. The job's
        # id names no queue, so `queued` finds it wherever it waits.
        callback = keys.is_callback(member)
        return self.queue(JobQueue.CALLBACKS if callback else JobQueue.CALLS).enqueue(
            "workers.connect.connect",
            member,
            handler,
            offer,
            at_front=not callback,
            job_id=f"connect-{member}-{offer}".replace(":", "-"),
            retry=Retry(max=3, interval=[1, 2, 4]),
            job_timeout=30,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
        )

    def place_callback(self, callback_id: str, handler: str, offer: int) -> Job | None:
        """A reserved callback's call again, now that the agenda says it is due (its calling slot
        has come, or an earlier try's outcome is to be checked); nothing if its job is queued."""
        member = keys.callback_member(callback_id)
        if self.queued(f"connect-{member}-{offer}".replace(":", "-")):
            return None
        return self._connect(member, handler, offer)

    def release_leg(
        self, call_sid: str, leg: str, to: str, warm: bool = False, handler: str = ""
    ) -> Job:
        """Move a handler's leg off a call they send on (`to` where), or, `warm`, into the
        transfer's room, so that the caller goes on: at the front of the calls' queue, as a
        connect is, for the caller is waiting."""
        return self._call_job(
            "workers.transfers.release_leg",
            f"release-leg-{call_sid}",
            call_sid,
            leg,
            to,
            warm,
            handler,
        )

    def redirect_call(self, call_sid: str, path: str, only_if: str = "") -> Job:
        """Send a live call to the webhook at `path` (a warm transfer's caller, out of the
        room), if its record's status is then `only_if` (when given): redirected twice, the
        call fetches the same TwiML twice."""
        return self._call_job(
            "workers.transfers.redirect_call", f"redirect-{call_sid}", call_sid, path, only_if
        )

    def dial_dispatcher(self, call_sid: str) -> Job:
        """Ring the dispatch line into the warm transfer's room of `call_sid`: tried once (a
        second try could ring the dispatch line twice); a failure sends the caller on by a
        plain dial."""
        return self._call_job(
            "workers.transfers.dial_dispatcher", f"dispatcher-{call_sid}", call_sid, retry=None
        )

    def hang_up(self, call_sid: str) -> Job:
        """End a call Lifeline placed (a clinician rung into a room the caller has left)."""
        return self._call_job("workers.transfers.hang_up", f"hang-up-{call_sid}", call_sid)

    def _call_job(
        self, function: str, job_id: str, *args: object, retry: Retry | None = CALL_RETRY
    ) -> Job:
        """A job on the calls' queue, at its front: a caller waits on it."""
        return self.queue(JobQueue.CALLS).enqueue(
            function,
            *args,
            at_front=True,
            job_id=job_id,
            retry=retry,
            job_timeout=30,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
        )

    def send_case(self, case: ClinicalCase, open_case: bool = False) -> Job:
        """Send a case to the clinical system (or keep it in the journal while it is down); a
        booking with the slot booked, once the handler has chosen one."""
        number = f"-{case.wrap_up_number}" if case.wrap_up_number > 1 else ""
        return self.queue(JobQueue.CLINICAL).enqueue(
            "workers.clinical_jobs.send_case",
            # A first wrap-up's job reads as before wrap-ups were numbered, for a worker not
            # yet upgraded.
            case.model_dump_json(exclude={"wrap_up_number"} if not number else None),
            open_case,
            job_id=f"case-{case.case_id}-{case.kind.value}-{case.request.value}{number}",
            # Sending is idempotent (a duplicate counts as delivered, the journal keeps one entry
            # per case), so a job that failed or whose worker died is simply run again.
            retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]),
            job_timeout=60,
            result_ttl=24 * 3600,
            failure_ttl=self.case_failure_ttl,
        )

    def confirm_booking(self, case_id: str, version: str) -> Job:
        """Look up, a minute from now, whether the case's appointment chosen at `version` was
        booked, unless its booking has been settled by then; asked again while the clinical
        system does not answer."""
        return self.queue(JobQueue.CLINICAL).enqueue_in(
            timedelta(seconds=CONFIRM_AFTER_SECONDS),
            "workers.clinical_jobs.confirm_booking",
            case_id,
            job_id=f"confirm-booking-{case_id}-{version}",
            # Hourly at last, for as long as the booking is kept (keys.CALL_TTL_SECONDS): an
            # outage of any length ends with the answer, not with the job given up.
            retry=Retry(max=60, interval=[60, 120, 300, 600, 1200, 1800, 3600]),
            job_timeout=30,
            result_ttl=24 * 3600,
            failure_ttl=self.case_failure_ttl,
        )

    def email_case(self, case_id: str) -> Job:
        """Send a contingency record's e-mail again, until the mail server takes it."""
        return self.queue(JobQueue.CLINICAL).enqueue(
            "workers.clinical_jobs.email_case",
            case_id,
            job_id=f"email-{case_id}",
            retry=Retry(max=8, interval=[30, 60, 120, 300, 600, 1200, 1800, 3600]),
            job_timeout=60,
            result_ttl=24 * 3600,
            failure_ttl=30 * 24 * 3600,
        )

    def reconcile(self) -> Job | None:
        """Start replaying the contingency journal (one replay at a time: a queued start is
        enough, and a replay under way carries on by itself)."""
        queue = self.queue(JobQueue.REPLAY)
        if "reconcile" in queue.get_job_ids():
            return None
        return queue.enqueue(
            "workers.replay.reconcile",
            job_id="reconcile",
            job_timeout=REPLAY_JOB_TIMEOUT,
            result_ttl=3600,
            failure_ttl=30 * 24 * 3600,
        )

    def what_if(self, simulation_id: str) -> Job:
        """Run a what-if (lifeline/simulation/what_if.py) on the simulations pool."""
        return self.queue(JobQueue.SIMULATIONS).enqueue(
            "lifeline.simulation.what_if.what_if",
            simulation_id,
            job_id=f"what-if-{simulation_id}",
            job_timeout=3 * 3600,  # two whole days at many times the demand, on a busy machine
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )

    def replay_batch(self) -> Job | None:
        """The replay's next batch, now that the agenda says it is due."""
        if self.queued("replay"):
            return None
        return self.queue(JobQueue.REPLAY).enqueue(
            "workers.replay.replay_batch",
            job_id="replay",
            job_timeout=REPLAY_JOB_TIMEOUT,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
        )

    async def connect_all(self, offers: list[Offer], wait: bool = True) -> None:
        """The assigner's offers, best first: callers' connects each go to the front of the
        calls queue, so they are put there last first, to run in the assigner's order; callbacks
        go to the back of theirs, first first."""
        if offers:
            callers = [offer for offer in reversed(offers) if not offer.is_callback]
            callbacks = [offer for offer in offers if offer.is_callback]
            ordered = callers + callbacks
            if wait:
                await self.off_loop(lambda: [self.connect(offer) for offer in ordered])
            else:  # a webhook's: an offer whose connect never went gets taken back by the sweep
                await self.hand_off("connects", lambda: [self.connect(o) for o in ordered])
