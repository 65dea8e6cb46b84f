"""The only way jobs are enqueued: typed helpers that set ids, retries, timeouts and TTLs.

Job ids are deterministic, so the same work enqueued twice (two processes racing, a retried
webhook) is one job.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis
from rq import Queue, Retry
from rq.job import Job

from routing.assignment import Offer
from workers.fhir import CaseKind, ClinicalCase
from workers.fhir import Request as Request  # for the web side, which imports only this module
from workers.queues import JobQueue


class Jobs:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def queue(self, name: JobQueue) -> Queue:
        return Queue(name.value, connection=self.connection)

    def connect(self, offer: Offer) -> Job:
        """Connect a reserved call to its handler (a REST redirect to the connect TwiML), or place
        a reserved callback (an outbound call)."""
        return self.queue(JobQueue.CALLS).enqueue(
            "workers.connect.connect",
            offer.member,
            offer.handler,
            offer.offer,
            job_id=f"connect-{offer.member}-{offer.offer}".replace(":", "-"),
            retry=Retry(max=3, interval=[1, 2, 4]),
            job_timeout=30,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
        )

    def send_case(
        self,
        case_id: str,
        kind: str,
        caller: str,
        locale: str,
        reason: str,
        priority: int,
        created: float,
        notes: str = "",
        open_case: bool = False,
        request: Request = Request.OPENED,
    ) -> Job:
        """Send a case to the clinical system (or keep it in the journal while it is down)."""
        case = ClinicalCase(
            case_id=case_id,
            kind=CaseKind(kind),
            created=datetime.fromtimestamp(created, UTC),
            caller_number=caller,
            locale=locale,
            reason=reason,
            priority=priority,
            handler_notes=notes,
            request=request,
        )
        return self.queue(JobQueue.CLINICAL).enqueue(
            "workers.clinical_jobs.send_case",
            case.model_dump_json(),
            open_case,
            job_id=f"case-{case_id}-{kind}-{request.value}",
            # Sending is idempotent (a duplicate counts as delivered, the journal keeps one entry
            # per case), so a job that failed or whose worker died is simply run again.
            retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]),
            job_timeout=60,
            result_ttl=24 * 3600,
            failure_ttl=30 * 24 * 3600,
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
        """Replay the contingency journal (one replay at a time: a queued one is enough)."""
        queue = self.queue(JobQueue.CLINICAL)
        if "reconcile" in queue.get_job_ids():
            return None
        return queue.enqueue(
            "workers.clinical_jobs.reconcile",
            job_id="reconcile",
            job_timeout=3600,
            result_ttl=3600,
            failure_ttl=30 * 24 * 3600,
        )

    async def connect_all(self, offers: list[Offer]) -> None:
        """From async code: RQ's client is synchronous, so enqueue off the event loop."""
        if offers:
            await asyncio.to_thread(lambda: [self.connect(offer) for offer in offers])
