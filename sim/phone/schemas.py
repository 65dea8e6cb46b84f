"""Bodies of the control API (JSON under /sim/)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.phone.inputs import CallerInput, InputKind, ScriptedInputs, scripted

ProgressEvent = Literal["initiated", "ringing", "answered", "completed"]


class NewCall(BaseModel):
    """`POST /sim/calls`: a caller rings the line."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    inputs: ScriptedInputs = []
    # False: a scripted press barges in as the Gather starts. True: the caller hears the
    # Gather's prompts out before pressing (how `lifeline call --press` reads best).
    press_after_prompts: bool = False
    status_callback_events: list[ProgressEvent] | None = None

    def scripted_inputs(self) -> list[CallerInput]:
        return scripted(self.inputs)


class LiveInput(BaseModel):
    """`POST /sim/calls/{sid}/input`: exactly one of `digits` or `speech`."""

    model_config = ConfigDict(extra="forbid")

    digits: str | None = Field(default=None, pattern=r"^[0-9#*]+$")
    speech: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> LiveInput:
        if (self.digits is None) == (self.speech is None):
            raise ValueError("give exactly one of 'digits' or 'speech'")
        return self

    def as_input(self) -> CallerInput:
        if self.speech is not None:
            return CallerInput(InputKind.SPEECH, self.speech)
        return CallerInput(InputKind.DTMF, self.digits or "")
