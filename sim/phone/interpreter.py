"""Runs TwiML on a leg: fetch a document, execute its verbs, follow where they lead; on errors,
the Fallback URL, then Twilio's application-error message."""

from __future__ import annotations

from sim.phone.dial import run_dial
from sim.phone.documents import fetch_document, step_kind
from sim.phone.enqueue import run_enqueue
from sim.phone.errors import CallError
from sim.phone.gather import run_gather
from sim.phone.leg import Leg
from sim.phone.media import play_prompt, say_text
from sim.phone.runtime import Runtime
from sim.phone.steps import (
    DocumentEnded,
    Ending,
    Fetch,
    HungUp,
    Left,
    Next,
    Outcome,
    Rejected,
    Step,
)
from sim.phone.verbs import (
    Context,
    Dial,
    Document,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    Verb,
)

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."


async def run_twiml(leg: Leg, rt: Runtime, start: Step, context: Context) -> Ending:
    step = start
    while True:
        try:
            document = await fetch_document(leg, rt, step, context)
            outcome = await execute(leg, rt, document, context)
        except CallError as error:
            if not error.recorded:
                leg.record_error(error, step_kind(step))
            if context is Context.WAIT:
                raise  # the Enqueue takes the caller out of the queue, then the fallback runs
            fallback = leg.fallback
            if fallback is not None and step_kind(step) != "fallback":
                error_url = {"ErrorCode": str(error.code), "ErrorUrl": error.url or ""}
                step = fallback.with_params(error_url)
                continue
            await application_error(leg, rt)
            return HungUp("error")
        if isinstance(outcome, Next):
            step = outcome.step
            continue
        return outcome


async def application_error(leg: Leg, rt: Runtime) -> None:
    if not leg.answered:
        leg.answer()
    await say_text(leg, rt, APPLICATION_ERROR, source="twilio")


async def execute(leg: Leg, rt: Runtime, document: Document, context: Context) -> Outcome:
    verbs = document.verbs
    if not leg.answered:
        # Only a <Reject> as the very first verb keeps Twilio from answering the call.
        if verbs and isinstance(verbs[0], Reject):
            return Rejected(verbs[0].reason)
        leg.answer()
    for verb in verbs:
        outcome = await _verb(leg, rt, verb, document)
        if outcome is not None:
            return outcome
    return DocumentEnded()


async def _verb(leg: Leg, rt: Runtime, verb: Verb, document: Document) -> Outcome | None:
    if isinstance(verb, Say | Play | Pause):
        await play_prompt(leg, rt, verb, document)
        return None
    if isinstance(verb, Hangup | Reject):
        return HungUp("app")
    if isinstance(verb, Redirect):
        target = Fetch(document.resolve(verb.url), verb.method, "redirect")
        leg.log.emit("redirect", url=target.url, method=target.method, by="twiml")
        return Next(target)
    if isinstance(verb, Leave):
        stay = leg.queue_stay
        leg.log.emit("leave", queue=stay.name if stay is not None else None)
        return Left()
    if isinstance(verb, Gather):
        return await run_gather(leg, rt, verb, document)
    if isinstance(verb, Enqueue):
        return await run_enqueue(leg, rt, verb, document, run_twiml)
    if isinstance(verb, Dial):
        return await run_dial(leg, rt, verb, document, run_twiml)
    raise AssertionError(f"unhandled verb {verb!r}")
