"""`<Enqueue>`: waiting in a named queue, running the waitUrl's TwiML in a loop until it leaves."""

from __future__ import annotations

import asyncio

from sim.phone.documents import request_ignoring_reply
from sim.phone.errors import CallError
from sim.phone.leg import Leg, QueueStay
from sim.phone.runtime import Runtime, TwimlRunner
from sim.phone.steps import DocumentEnded, Fetch, HungUp, Left, Next, Outcome
from sim.phone.verbs import Context, Document, Enqueue

# Twilio's default hold music when no waitUrl is given.
DEFAULT_WAIT_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
# A wait document that takes no time would make Twilio re-request the waitUrl in a tight loop;
# the sim lets at least this much simulated time pass between requests.
MIN_WAIT_CYCLE_SECONDS = 1.0


async def run_enqueue(
    leg: Leg, rt: Runtime, verb: Enqueue, document: Document, runner: TwimlRunner
) -> Outcome | None:
    action = None
    if verb.action is not None:
        action = Fetch(document.resolve(verb.action), verb.method, "enqueue-action")
    wait_url = document.resolve(verb.wait_url) if verb.wait_url is not None else None
    queue = rt.queues.join(verb.name, leg.sid, rt.time.now())
    leg.queue_stay = QueueStay(name=verb.name, sid=queue.sid, joined=rt.time.now(), action=action)
    leg.log.emit("enqueue", queue=verb.name, queue_sid=queue.sid)
    try:
        outcome = await _wait(leg, rt, verb, wait_url, runner)
    except CallError:
        # The caller drops out of the queue; the application hears why, then the fallback runs.
        await leave_queue(leg, rt, "error")
        raise
    finally:
        rt.queues.leave(verb.name, leg.sid)
    if isinstance(outcome, Left):
        stay = leg.queue_stay
        leg.queue_stay = None
        leg.log.emit("dequeued", queue=verb.name, result="leave")
        if stay is not None and stay.action is not None:
            return Next(stay.action.with_params(_result_params(rt, stay, "leave")))
        return None
    leg.hanging_up()
    await leave_queue(leg, rt, "hangup")
    return outcome


async def leave_queue(leg: Leg, rt: Runtime, result: str) -> None:
    """Take the leg out of its queue; the Enqueue action hears QueueResult (reply ignored)."""
    stay = leg.queue_stay
    if stay is None:
        return
    leg.queue_stay = None
    rt.queues.leave(stay.name, leg.sid)
    leg.log.emit("dequeued", queue=stay.name, result=result)
    if stay.action is not None:
        await request_ignoring_reply(
            leg, rt, stay.action.with_params(_result_params(rt, stay, result))
        )


def _result_params(rt: Runtime, stay: QueueStay, result: str) -> dict[str, str]:
    return {
        "QueueResult": result,
        "QueueSid": stay.sid,
        "QueueTime": str(int(rt.time.now() - stay.joined)),
    }


async def _wait(
    leg: Leg, rt: Runtime, verb: Enqueue, wait_url: str | None, runner: TwimlRunner
) -> Left | HungUp:
    if wait_url is None:
        leg.log.emit("play", url=DEFAULT_WAIT_MUSIC, loop=0, digits=None)
        await asyncio.get_running_loop().create_future()  # until redirected or hung up
    assert wait_url is not None
    while True:
        started = rt.time.now()
        params = rt.queues.wait_params(verb.name, leg.sid, started)
        step = Fetch(wait_url, verb.wait_url_method, "wait", params)
        ending = await runner(leg, rt, step, Context.WAIT)
        if isinstance(ending, Left | HungUp):
            return ending
        if isinstance(ending, DocumentEnded):
            await rt.time.sleep(MIN_WAIT_CYCLE_SECONDS - (rt.time.now() - started))
            continue
        raise AssertionError(f"unexpected end of a wait document: {ending!r}")
