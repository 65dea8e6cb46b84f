"""What a person on a call presses or says: scripted up front, or live through the control API."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

DTMF_KEYS = frozenset("0123456789#*")
SPEECH_PREFIX = "speech:"


class InputKind(StrEnum):
    DTMF = "dtmf"
    SPEECH = "speech"
    SILENCE = "silence"


@dataclass(frozen=True)
class CallerInput:
    kind: InputKind
    value: str = ""

    def describe(self) -> dict[str, str]:
        """The fields of an `input` event."""
        if self.kind is InputKind.SPEECH:
            return {"speech": self.value}
        if self.kind is InputKind.DTMF:
            return {"digits": self.value}
        return {"silence": ""}

    def script(self) -> str:
        """The scripted spelling this input came from (inverse of `parse_scripted`)."""
        if self.kind is InputKind.SPEECH:
            return SPEECH_PREFIX + self.value
        return self.value


def parse_scripted(entry: str) -> CallerInput:
    """`"12#"` is DTMF, `"speech:yes please"` is speech, `""` is silence at that Gather."""
    if entry == "":
        return CallerInput(InputKind.SILENCE)
    if entry.startswith(SPEECH_PREFIX):
        words = entry[len(SPEECH_PREFIX) :].strip()
        if not words:
            raise ValueError("a speech input needs words after 'speech:'")
        return CallerInput(InputKind.SPEECH, words)
    if set(entry) <= DTMF_KEYS:
        return CallerInput(InputKind.DTMF, entry)
    raise ValueError(
        f"{entry!r} is neither DTMF keys (0-9, #, *), 'speech:<words>' nor '' (silence)"
    )


def checked_scripts(entries: list[str]) -> list[str]:
    for entry in entries:
        parse_scripted(entry)
    return entries


# A request's scripted inputs, each refused with its reason if it is not one.
ScriptedInputs = Annotated[list[str], AfterValidator(checked_scripts)]


def scripted(entries: Iterable[str]) -> list[CallerInput]:
    return [parse_scripted(entry) for entry in entries]


class InputSource:
    """Scripted inputs are taken one per Gather; live input reaches only a listening Gather."""

    def __init__(self, scripted: Iterable[CallerInput] = (), after_prompts: bool = False) -> None:
        self._scripted = deque(scripted)
        self._live: asyncio.Queue[CallerInput] | None = None
        self.after_prompts = after_prompts  # scripted presses wait for the prompts to finish

    def next_scripted(self) -> CallerInput | None:
        return self._scripted.popleft() if self._scripted else None

    @property
    def remaining(self) -> list[str]:
        return [item.script() for item in self._scripted]

    @property
    def listening(self) -> bool:
        return self._live is not None

    def listen(self) -> asyncio.Queue[CallerInput]:
        # A fresh queue per Gather: keys pressed before it started are lost, as on a real line.
        self._live = asyncio.Queue()
        return self._live

    def stop_listening(self) -> None:
        self._live = None

    def offer(self, item: CallerInput) -> bool:
        """Deliver live input; False when no Gather is listening (the input is lost)."""
        if self._live is None:
            return False
        self._live.put_nowait(item)
        return True
