"""The life of a top-level call (inbound, or placed through the REST API): ring, run TwiML, obey
REST redirects and hang-ups, tidy up, report."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sim.phone.dial import drop_activity, log_redirect
from sim.phone.interpreter import run_twiml
from sim.phone.leg import Interrupted, Leg
from sim.phone.parties import answered_by, ring_outcome
from sim.phone.runtime import Runtime
from sim.phone.statuses import CallStatus
from sim.phone.steps import (
    Ending,
    Fetch,
    HangupRequest,
    HungUp,
    NotAnswered,
    RedirectRequest,
    Step,
)
from sim.phone.verbs import Context

Program = Callable[[], Coroutine[Any, Any, Ending]]


@dataclass(frozen=True)
class OutboundPlan:
    """What `POST Calls.json` asked for."""

    start: Step
    ring_timeout: int
    machine_detection: str | None


async def run_inbound(leg: Leg, rt: Runtime, start: Step) -> None:
    leg.initiate()
    leg.ring()
    await _supervise(leg, rt, lambda: run_twiml(leg, rt, start, Context.MAIN))


async def run_outbound(leg: Leg, rt: Runtime, plan: OutboundPlan, queued_for: float) -> None:
    """`queued_for`: simulated seconds the call waits in the account's queue before it is dialled
    (initiated); it can be cancelled meanwhile."""
    await _supervise(leg, rt, lambda: _outbound(leg, rt, plan, queued_for))


async def _outbound(leg: Leg, rt: Runtime, plan: OutboundPlan, queued_for: float) -> Ending:
    if queued_for > 0:
        await rt.time.sleep(queued_for)
    leg.initiate()
    behaviour = rt.parties.behaviour(leg.to)
    leg.ring()
    status, seconds = ring_outcome(behaviour, plan.ring_timeout)
    await rt.time.sleep(seconds)
    if status is not None:
        return NotAnswered(status)
    leg.answer(answered_by(behaviour, plan.machine_detection))
    leg.log.emit("answered", to=leg.to, answered_by=leg.answered_by)
    start = plan.start
    if leg.answered_by is not None and isinstance(start, Fetch):
        start = start.with_params({"AnsweredBy": leg.answered_by})
    return await run_twiml(leg, rt, start, Context.MAIN)


async def _supervise(leg: Leg, rt: Runtime, program: Program) -> None:
    ending: Ending
    while True:
        try:
            ending = await leg.guarded(program())
            break
        except Interrupted as interrupted:
            request = interrupted.interrupt
            if isinstance(request, RedirectRequest):
                await drop_activity(leg, rt, request)
                program = _redirected(leg, rt, request.step)
                continue
            ending = await _hung_up(leg, rt, request)
            break
    leg.finish(ending)
    rt.store.retire(leg)


def _redirected(leg: Leg, rt: Runtime, step: Step) -> Program:
    log_redirect(leg, step)
    return lambda: run_twiml(leg, rt, step, Context.MAIN)


async def _hung_up(leg: Leg, rt: Runtime, request: HangupRequest) -> Ending:
    if not leg.answered:
        status = CallStatus.BUSY if request.by == "callee" else CallStatus.CANCELED
        return NotAnswered(status)
    leg.hanging_up()
    await drop_activity(leg, rt, request)
    return HungUp(request.by)
