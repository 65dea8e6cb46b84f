"""Putting a call (back) in its queue, ending it, and offering waiting calls to free handlers."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from ivr.context import Ivr
from ivr.forms import TwilioForm
from ivr.safety import ids
from routing.decisions import Decision, Enqueue, Spoken
from routing.models import CallRecord

log = logging.getLogger(__name__)


async def assign_waiting(ivr: Ivr) -> None:
    """Give free handlers the best waiting calls now; the periodic sweep catches up on failure."""
    try:
        offers = await ivr.assigner.assign(await ivr.rulebook.active(), ivr.clock.now())
        await ivr.jobs.connect_all(offers)
    except RedisError as error:
        log.warning("assignment postponed: %s", error)


async def finish(ivr: Ivr, form: TwilioForm) -> None:
    outcome = await ivr.calls.finish(form.call_sid, ivr.clock.now())
    if outcome is not None:
        log.info("call ended: %s", outcome.value, extra=ids(form))


async def requeue(
    ivr: Ivr, record: CallRecord, spoken: tuple[Spoken, ...], redial: bool = False
) -> Decision:
    """Back into the queue at the call's original place."""
    assert record.placement is not None
    queued = await ivr.calls.enqueue(
        record.sid,
        record.caller,
        record.line,
        record.answers,
        record.placement,
        ivr.clock.now(),
        redial=redial,
    )
    if queued.free_handlers:
        await assign_waiting(ivr)
    return Enqueue(
        locale=record.locale,
        queue=record.placement.queue,
        priority=record.placement.priority,
        say=spoken,
    )
