"""`<Dial>`: ring simulated parties, whisper to the one that answers, bridge (and record, if asked),
report the result; or join a conference. A dialled leg redirected through the REST API leaves the
bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from sim.phone.conference import LeftBecause
from sim.phone.conference_leg import leave_conference, run_conference
from sim.phone.documents import request_ignoring_reply
from sim.phone.enqueue import leave_queue
from sim.phone.ids import new_sid
from sim.phone.inputs import InputSource
from sim.phone.leg import CallbackSpec, DialAttempt, DialState, Interrupted, Leg
from sim.phone.parties import answered_by, ring_outcome
from sim.phone.recordings import DialRecorder, RecordingPlan, callback_of
from sim.phone.runtime import Runtime, TwimlRunner
from sim.phone.statuses import CallStatus, Direction
from sim.phone.steps import (
    DocumentEnded,
    Ending,
    Fetch,
    HangupRequest,
    HungUp,
    Interrupt,
    Next,
    NotAnswered,
    RedirectRequest,
    Step,
)
from sim.phone.verbs import Context, Dial, DialTarget, Document

_Program = Coroutine[Any, Any, Ending]
# When several targets all fail, the most telling failure is reported.
FAILURE_ORDER = (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED, CallStatus.CANCELED)


async def run_dial(
    leg: Leg, rt: Runtime, verb: Dial, document: Document, runner: TwimlRunner
) -> Next | HungUp | None:
    if verb.conference is not None:
        return await run_conference(leg, rt, verb, verb.conference, document)
    action = None
    if verb.action is not None:
        action = Fetch(document.resolve(verb.action), verb.method, "dial-action")
    # Resolve every URL first: a bad one is the application's error, raised on this leg.
    whispers = [
        Fetch(document.resolve(t.url), t.method, "whisper") if t.url is not None else None
        for t in verb.targets
    ]
    callbacks = [_callback_spec(target, document) for target in verb.targets]
    recorder = DialRecorder(rt.recordings, leg, _recording_plan(verb, document))
    caller_id = verb.caller_id or leg.from_
    leg.log.emit(
        "dial",
        targets=[target.address for target in verb.targets],
        timeout=verb.timeout,
        action=action.url if action is not None else None,
    )
    attempts = [
        _start_attempt(leg, rt, target, caller_id, verb.timeout, whisper, spec, runner)
        for target, whisper, spec in zip(verb.targets, whispers, callbacks, strict=True)
    ]
    state = DialState(attempts=attempts, action=action)
    leg.dial = state
    recorder.ringing()
    try:
        ending = await _connect(leg, rt, verb, state, recorder)
    finally:
        # However the bridge ended: a hang-up or a REST redirect of this leg cancels _connect.
        recorder.stop()
    leg.dial = None
    params = _report(leg, state)
    if ending is not None:
        leg.hanging_up()
        if action is not None:
            await request_ignoring_reply(leg, rt, action.with_params(params))
        return ending
    return Next(action.with_params(params)) if action is not None else None


async def abandon_dial(leg: Leg, rt: Runtime, *, tell_app: bool) -> None:
    """The leg was hung up or redirected mid-Dial: end the dialled legs, report if asked."""
    state = leg.dial
    if state is None:
        return
    leg.dial = None
    # A dialled leg redirected away is on its own now: it stays.
    attached = [attempt for attempt in state.attempts if not attempt.released.is_set()]
    for attempt in attached:
        attempt.leg.interrupt(HangupRequest("caller"))
    await asyncio.gather(*(attempt.leg.ended.wait() for attempt in attached))
    params = _report(leg, state)
    if tell_app and state.action is not None:
        await request_ignoring_reply(leg, rt, state.action.with_params(params))


def _recording_plan(verb: Dial, document: Document) -> RecordingPlan | None:
    record = verb.record
    if record is None:
        return None
    channels = 2 if record.dual else 1
    return RecordingPlan(record.from_ringing, channels, record.track, callback_of(record, document))


def _callback_spec(target: DialTarget, document: Document) -> CallbackSpec | None:
    if target.status_callback is None:
        return None
    url = document.resolve(target.status_callback)
    return CallbackSpec(url, target.status_callback_method, target.status_callback_events)


async def _connect(
    leg: Leg, rt: Runtime, verb: Dial, state: DialState, recorder: DialRecorder
) -> HungUp | None:
    """Ring, pick the first to answer, bridge; HungUp if this leg's own party hung up."""
    winner = await _first_answer(state.attempts)
    for attempt in state.attempts:
        if attempt is not winner:
            attempt.leg.interrupt(HangupRequest("caller"))
    if winner is None:
        await asyncio.gather(*(attempt.leg.ended.wait() for attempt in state.attempts))
        return None
    state.winner = winner
    callee = winner.leg
    leg.log.emit("answered", to=callee.to, answered_by=callee.answered_by, call_sid=callee.sid)
    if not await winner.connected:
        await _gone(winner)
        return None
    state.bridged = True
    leg.log.emit("bridged", to=callee.to, call_sid=callee.sid)
    recorder.bridged()
    own_talk = leg.talk_seconds
    limit = verb.time_limit if own_talk is None else min(verb.time_limit, own_talk)
    try:
        await asyncio.wait_for(_gone(winner), rt.time.real(limit))
    except TimeoutError:
        we_hung_up = own_talk is not None and own_talk <= verb.time_limit
        callee.interrupt(HangupRequest("caller" if we_hung_up else "app"))
        await callee.ended.wait()
        if we_hung_up:
            return HungUp("callee")
    return None


async def _gone(attempt: DialAttempt) -> None:
    """Until the dialled leg hangs up or is redirected away from this Dial."""
    waits = {
        asyncio.ensure_future(attempt.leg.ended.wait()),
        asyncio.ensure_future(attempt.released.wait()),
    }
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def drop_activity(leg: Leg, rt: Runtime, request: Interrupt) -> None:
    """A REST redirect or a hang-up abandons whatever the leg was doing: a queue (the Enqueue
    action hears why), a Dial or a conference (their action hears a hang-up, not a redirect)."""
    hangup = isinstance(request, HangupRequest)
    await leave_queue(leg, rt, "hangup" if hangup else "redirected")
    await abandon_dial(leg, rt, tell_app=hangup)
    because = LeftBecause.HANGUP if hangup else LeftBecause.REDIRECTED
    await leave_conference(leg, rt, because, tell_app=hangup)


def log_redirect(leg: Leg, step: Step) -> None:
    if isinstance(step, Fetch):
        leg.log.emit("redirect", url=step.url, method=step.method, by="api")
    else:
        leg.log.emit("redirect", url=None, method=None, by="api", twiml=step.twiml)


async def _on_its_own(child: Leg, rt: Runtime, step: Step, runner: TwimlRunner) -> Ending:
    """A dialled leg redirected through the REST API runs its new TwiML like any call."""
    while True:
        log_redirect(child, step)
        try:
            return await child.guarded(runner(child, rt, step, Context.MAIN))
        except Interrupted as interrupted:
            request = interrupted.interrupt
            if isinstance(request, HangupRequest):
                child.hanging_up()
            await drop_activity(child, rt, request)
            if isinstance(request, HangupRequest):
                return HungUp(request.by)
            step = request.step


async def _first_answer(attempts: list[DialAttempt]) -> DialAttempt | None:
    by_future = {attempt.rung: attempt for attempt in attempts}
    waiting = set(by_future)
    while waiting:
        done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        answered = [by_future[future] for future in done if future.result() is None]
        if answered:
            return min(answered, key=attempts.index)
    return None


def _report(leg: Leg, state: DialState) -> dict[str, str]:
    winner = state.winner
    if winner is not None:
        status, child = "completed", winner.leg
    else:
        child = state.attempts[0].leg
        outcomes = {a.rung.result() for a in state.attempts if a.rung.done()}
        status = next((s.value for s in FAILURE_ORDER if s in outcomes), "failed")
    duration = child.duration() if winner is not None else 0
    leg.log.emit(
        "dial_ended", status=status, duration=duration, bridged=state.bridged, call_sid=child.sid
    )
    return {
        "DialCallStatus": status,
        "DialCallSid": child.sid,
        "DialCallDuration": str(duration),
        "DialBridged": "true" if state.bridged else "false",
    }


def _start_attempt(
    leg: Leg,
    rt: Runtime,
    target: DialTarget,
    caller_id: str,
    timeout: int,
    whisper: Fetch | None,
    callbacks: CallbackSpec | None,
    runner: TwimlRunner,
) -> DialAttempt:
    behaviour = rt.parties.behaviour(target.address)
    child = Leg(
        sid=new_sid("CA"),
        account_sid=leg.account_sid,
        direction=Direction.OUTBOUND_DIAL,
        from_=caller_id,
        to=target.address,
        time=rt.time,
        notifier=rt.callbacks,
        inputs=InputSource(behaviour.scripted_inputs()),
        parent=leg,
        callbacks=callbacks,
        talk_seconds=behaviour.talk_seconds,
        status=CallStatus.QUEUED,
    )
    rt.store.add(child)
    rt.parties.reached(target.address, child.sid)
    leg.children.append(child.sid)
    loop = asyncio.get_running_loop()
    attempt = DialAttempt(leg=child, rung=loop.create_future(), connected=loop.create_future())
    program = _attempt(child, rt, attempt, target, timeout, whisper, runner)
    rt.tasks.spawn(_supervise(child, rt, attempt, program, runner), name=f"dial-{child.sid}")
    return attempt


async def _supervise(
    child: Leg, rt: Runtime, attempt: DialAttempt, program: _Program, runner: TwimlRunner
) -> None:
    child.initiate()
    ending: Ending
    try:
        ending = await child.guarded(program)
    except Interrupted as interrupted:
        request = interrupted.interrupt
        by = request.by if isinstance(request, HangupRequest) else "api"
        if isinstance(request, RedirectRequest) and attempt.rung.done():
            # Answered (the REST API redirects only calls in progress): it leaves the caller,
            # whose Dial ends as if it had hung up, and the new TwiML runs on this leg.
            if not attempt.connected.done():
                attempt.connected.set_result(False)
            attempt.released.set()
            ending = await _on_its_own(child, rt, request.step, runner)
        elif not attempt.rung.done():
            # Hung up while ringing: the callee declining is "busy"; anyone else cancels.
            status = CallStatus.BUSY if by == "callee" else CallStatus.CANCELED
            attempt.rung.set_result(status)
            ending = NotAnswered(status)
        else:
            child.hanging_up()
            ending = HungUp(by)
    finally:
        if not attempt.rung.done():
            attempt.rung.set_result(CallStatus.CANCELED)
        if not attempt.connected.done():
            attempt.connected.set_result(False)
    child.finish(ending)
    rt.store.retire(child)


async def _attempt(
    child: Leg,
    rt: Runtime,
    attempt: DialAttempt,
    target: DialTarget,
    ring_timeout: int,
    whisper: Fetch | None,
    runner: TwimlRunner,
) -> Ending:
    behaviour = rt.parties.behaviour(target.address)
    child.ring()
    if child.parent is not None:
        child.parent.log.emit("ringing", to=target.address, call_sid=child.sid)
    status, seconds = ring_outcome(behaviour, ring_timeout)
    await rt.time.sleep(seconds)
    if status is not None:
        attempt.rung.set_result(status)
        return NotAnswered(status)
    child.answer(answered_by(behaviour, target.machine_detection))
    child.log.emit("answered", to=child.to, answered_by=child.answered_by)
    attempt.rung.set_result(None)
    if whisper is not None:
        if child.answered_by is not None:
            whisper = whisper.with_params({"AnsweredBy": child.answered_by})
        ending = await runner(child, rt, whisper, Context.WHISPER)
        if not isinstance(ending, DocumentEnded):
            # Declined in the whisper (or it failed): this leg ends, the caller is not bridged.
            attempt.connected.set_result(False)
            return ending
    attempt.connected.set_result(True)
    child.log.emit("bridged", to=child.from_, call_sid=child.parent_sid)
    await rt.time.sleep(behaviour.talk_seconds)
    return HungUp("callee")
