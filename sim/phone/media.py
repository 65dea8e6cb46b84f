"""What the caller hears: `<Say>`, `<Play>` and `<Pause>`, each an event and a simulated wait."""

from __future__ import annotations

from sim.phone.leg import Leg
from sim.phone.runtime import Runtime
from sim.phone.verbs import Document, Pause, Play, Prompt, Say

LOOP_FOREVER = 1000  # Twilio's loop="0" repeats "indefinitely", which it caps at 1000
DTMF_TONE_SECONDS = 0.5


def speech_seconds(text: str, words_per_second: float) -> float:
    if words_per_second <= 0:
        return 0.0
    return len(text.split()) / words_per_second


def announce(leg: Leg, rt: Runtime, prompt: Prompt, document: Document) -> float:
    """Record the prompt starting; return how long it plays (simulated seconds)."""
    if isinstance(prompt, Pause):
        leg.log.emit("pause", seconds=prompt.length)
        return float(prompt.length)
    loops = prompt.loop or LOOP_FOREVER
    if isinstance(prompt, Say):
        leg.log.emit(
            "say", text=prompt.text, voice=prompt.voice, language=prompt.language, loop=prompt.loop
        )
        return speech_seconds(prompt.text, rt.config.speech_words_per_second) * loops
    return _announce_play(leg, rt, prompt, document, loops)


def _announce_play(leg: Leg, rt: Runtime, prompt: Play, document: Document, loops: int) -> float:
    url = document.resolve(prompt.url) if prompt.url is not None else None
    leg.log.emit("play", url=url, loop=prompt.loop, digits=prompt.digits)
    tones = DTMF_TONE_SECONDS * len(prompt.digits or "")
    return (rt.config.play_seconds if url is not None else 0.0) * loops + tones


async def play_prompt(leg: Leg, rt: Runtime, prompt: Prompt, document: Document) -> None:
    await rt.time.sleep(announce(leg, rt, prompt, document))


async def say_text(leg: Leg, rt: Runtime, text: str, **fields: object) -> None:
    """Speech that is not from a document (Twilio's own announcements)."""
    leg.log.emit("say", text=text, voice=None, language="en-US", loop=1, **fields)
    await rt.time.sleep(speech_seconds(text, rt.config.speech_words_per_second))
