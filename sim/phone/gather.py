"""`<Gather>`: prompts that input barges into, DTMF and speech collection, then the action."""

from __future__ import annotations

import asyncio

from sim.phone.inputs import CallerInput, InputKind
from sim.phone.leg import Leg
from sim.phone.media import announce, play_prompt
from sim.phone.runtime import Runtime
from sim.phone.steps import Fetch, Next
from sim.phone.verbs import Document, Gather

CONFIDENCE = "0.9"


class _Collector:
    def __init__(self, leg: Leg, verb: Gather) -> None:
        self._leg = leg
        self._verb = verb
        self.digits = ""
        self.finished_on_key = ""
        self.speech: str | None = None
        self.done = False

    def feed(self, item: CallerInput, source: str) -> None:
        if item.kind is InputKind.SILENCE:
            return
        if item.kind.value not in self._verb.inputs:
            # Speech at a DTMF-only Gather (or keys at a speech-only one) is simply not heard.
            self._leg.log.emit("input", **item.describe(), source=source, ignored=True)
            return
        self._leg.log.emit("input", **item.describe(), source=source)
        if item.kind is InputKind.SPEECH:
            self.speech = item.value
            self.done = True
            return
        for key in item.value:
            if self._verb.finish_on_key and key == self._verb.finish_on_key:
                self.finished_on_key = key
                self.done = True
                return
            self.digits += key
            if self._verb.num_digits is not None and len(self.digits) >= self._verb.num_digits:
                self.done = True  # keys pressed beyond numDigits are lost, as on Twilio
                return


async def run_gather(leg: Leg, rt: Runtime, verb: Gather, document: Document) -> Next | None:
    action = Fetch(document.resolve(verb.action), verb.method, "gather-action")
    leg.log.emit(
        "gather",
        input=" ".join(sorted(verb.inputs)),
        num_digits=verb.num_digits,
        timeout=verb.timeout,
        finish_on_key=verb.finish_on_key,
        action=action.url,
    )
    collector = _Collector(leg, verb)
    live = leg.inputs.listen()
    try:
        timed_out = await _collect(leg, rt, verb, document, collector, live)
    finally:
        leg.inputs.stop_listening()
    if collector.speech is not None:
        speech = {"SpeechResult": collector.speech, "Confidence": CONFIDENCE}
        return Next(action.with_params(speech))
    keys = {"Digits": collector.digits, "FinishedOnKey": collector.finished_on_key}
    if collector.digits:
        return Next(action.with_params(keys))
    if timed_out:
        leg.log.emit("gather_timeout", seconds=verb.timeout)
    if verb.action_on_empty_result:
        return Next(action.with_params(keys))
    return None


async def _collect(
    leg: Leg,
    rt: Runtime,
    verb: Gather,
    document: Document,
    collector: _Collector,
    live: asyncio.Queue[CallerInput],
) -> bool:
    """Collect until done; True if it ended because the timeout ran out."""
    scripted = leg.inputs.next_scripted()
    if scripted is not None and scripted.kind is not InputKind.SILENCE:
        if leg.inputs.after_prompts:
            await _play_all(leg, rt, verb, document)
        elif verb.prompts:
            # A scripted press barges in at once: the caller heard the first prompt start.
            announce(leg, rt, verb.prompts[0], document)
        collector.feed(scripted, "scripted")
    else:
        first = await _prompts_until_input(leg, rt, verb, document, live)
        if first is not None:
            collector.feed(first, "live")
    # Twilio's timeout runs from the end of the prompts, and again after each key.
    while not collector.done:
        try:
            item = await asyncio.wait_for(live.get(), rt.time.real(verb.timeout))
        except TimeoutError:
            return True
        collector.feed(item, "live")
    return False


async def _prompts_until_input(
    leg: Leg, rt: Runtime, verb: Gather, document: Document, live: asyncio.Queue[CallerInput]
) -> CallerInput | None:
    """Play the nested prompts; the first live input stops them at once (barge-in)."""
    playing = asyncio.ensure_future(_play_all(leg, rt, verb, document))
    pressed = asyncio.ensure_future(live.get())
    try:
        await asyncio.wait({playing, pressed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (playing, pressed):
            if not task.done():
                task.cancel()
        await asyncio.gather(playing, pressed, return_exceptions=True)
    if pressed.done() and not pressed.cancelled():
        return pressed.result()
    playing.result()  # surfaces an error from a prompt, e.g. an unresolvable <Play> URL
    return None


async def _play_all(leg: Leg, rt: Runtime, verb: Gather, document: Document) -> None:
    for prompt in verb.prompts:
        await play_prompt(leg, rt, prompt, document)
