"""Simulated phones at the far end of calls: how each answers, talks and what it presses."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sim.phone.inputs import CallerInput, ScriptedInputs, scripted
from sim.phone.statuses import CallStatus

Seconds = Annotated[float, Field(ge=0, le=86_400)]


class Answer(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    MACHINE = "machine"


class PartyBehaviour(BaseModel):
    """Body of `PUT /sim/parties/{address}`; unknown parties answer after 1 s and talk 30 s."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: Answer = Answer.ANSWER
    ring_seconds: Seconds = 1.0
    talk_seconds: Seconds = 30.0
    inputs: ScriptedInputs = []

    def scripted_inputs(self) -> list[CallerInput]:
        return scripted(self.inputs)


def ring_outcome(behaviour: PartyBehaviour, timeout: float) -> tuple[CallStatus | None, float]:
    """(final status, or None when answered; simulated seconds until it is known)."""
    if behaviour.answer in {Answer.ANSWER, Answer.MACHINE}:
        if behaviour.ring_seconds <= timeout:
            return None, behaviour.ring_seconds
        return CallStatus.NO_ANSWER, timeout
    if behaviour.answer is Answer.NO_ANSWER:
        return CallStatus.NO_ANSWER, timeout
    failure = CallStatus.BUSY if behaviour.answer is Answer.BUSY else CallStatus.FAILED
    if behaviour.ring_seconds <= timeout:
        return failure, behaviour.ring_seconds
    return CallStatus.NO_ANSWER, timeout


def answered_by(behaviour: PartyBehaviour, machine_detection: str | None) -> str | None:
    """Twilio's AnsweredBy, present only when answering machine detection was asked for."""
    if machine_detection is None:
        return None
    if behaviour.answer is not Answer.MACHINE:
        return "human"
    return "machine_end_beep" if machine_detection == "DetectMessageEnd" else "machine_start"


class Parties:
    def __init__(self) -> None:
        self._behaviour: dict[str, PartyBehaviour] = {}
        self._legs: dict[str, list[str]] = {}

    def behaviour(self, address: str) -> PartyBehaviour:
        return self._behaviour.get(address, PartyBehaviour())

    def configured(self, address: str) -> bool:
        return address in self._behaviour

    def set(self, address: str, behaviour: PartyBehaviour) -> None:
        self._behaviour[address] = behaviour

    def reached(self, address: str, call_sid: str) -> None:
        self._legs.setdefault(address, []).append(call_sid)

    def legs(self, address: str) -> list[str]:
        return list(self._legs.get(address, []))

    def addresses(self) -> list[str]:
        return sorted(set(self._behaviour) | set(self._legs))

    def clear(self) -> None:
        self._behaviour.clear()
        self._legs.clear()
