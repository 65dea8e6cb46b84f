"""Routing outcomes as values: what the caller hears next, and where the call goes."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from prompts.catalogue import Locale, PromptId
from routing.models import Answers, Priority


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Spoken(Frozen):
    """A prompt and the values that fill its placeholders."""

    prompt: PromptId
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, prompt: PromptId, **values: object) -> Spoken:
        return cls(prompt=prompt, values=tuple((key, str(value)) for key, value in values.items()))


def say(*prompts: PromptId) -> tuple[Spoken, ...]:
    return tuple(Spoken(prompt=prompt) for prompt in prompts)


class Step(StrEnum):
    LANGUAGE = "language"
    EMERGENCY = "emergency"
    REASON = "reason"
    WORSE = "worse"
    CALLBACK_OFFER = "callback-offer"
    CALLBACK_CONFIRM = "callback-confirm"
    CALLBACK_NUMBER = "callback-number"
    CALLBACK_READBACK = "callback-readback"
    CALLBACK_EXISTING = "callback-existing"


class Ask(Frozen):
    """Ask a question (a `<Gather>`); the answer comes back to the step's action with `answers`."""

    kind: Literal["ask"] = "ask"
    step: Step
    locale: Locale
    answers: Answers
    attempt: int = 0
    say: tuple[Spoken, ...]
    speech: bool = False  # spoken answers accepted, where the locale has speech recognition
    num_digits: int | None = 1
    bilingual: bool = False
    fallback: bool = False  # answered at the Fallback URL, which needs nothing but settings


class Enqueue(Frozen):
    """Put the call in a queue and hold it there."""

    kind: Literal["enqueue"] = "enqueue"
    locale: Locale
    queue: str
    priority: Priority
    say: tuple[Spoken, ...] = ()


class Dial(Frozen):
    """Connect the caller to a number outside Lifeline: the ambulance dispatch line, another
    service's line by overflow, or the fallback line when Lifeline cannot route calls."""

    kind: Literal["dial"] = "dial"
    locale: Locale
    number: str
    say: tuple[Spoken, ...] = ()
    attempt: int = 0
    fallback: bool = False
    purpose: Literal["dispatch", "overflow", "fallback_line"] = "dispatch"
    case_id: str = ""  # read to the dispatcher when they answer
    answers: Answers = Answers()  # to the fallback line: what to carry on with if it fails


class Hold(Frozen):
    """One turn of the hold loop: announcements, perhaps a callback offer, then a pause."""

    kind: Literal["hold"] = "hold"
    locale: Locale
    priority: Priority
    say: tuple[Spoken, ...]
    offer: Ask | None = None
    pause_seconds: int
    turn: int
    down_since: int = 0  # Redis unreachable since (epoch seconds); 0: it was not


class Leave(Frozen):
    """Leave the queue (to the Enqueue action, which decides what follows)."""

    kind: Literal["leave"] = "leave"


class Goodbye(Frozen):
    kind: Literal["goodbye"] = "goodbye"
    locale: Locale
    say: tuple[Spoken, ...]


class Nothing(Frozen):
    """An empty response: for requests whose answer Twilio ignores."""

    kind: Literal["nothing"] = "nothing"


class Retry(Frozen):
    """We cannot place the call just now (Redis is unreachable): keep the caller on the line with
    the emergency key live, then try again with what they have told us."""

    kind: Literal["retry"] = "retry"
    locale: Locale
    answers: Answers
    say: tuple[Spoken, ...]
    emergency: PromptId = PromptId.EMERGENCY_SCREEN  # said last: how to reach help, key 1 live
    pause_seconds: int
    turn: int
    down_since: int = 0  # when this caller's trouble began (epoch seconds): carried in the URL


class Continue(Frozen):
    """Go on with the IVR from these answers (back from the Fallback URL to the main flow)."""

    kind: Literal["continue"] = "continue"
    locale: Locale
    answers: Answers
    say: tuple[Spoken, ...] = ()


class Connect(Frozen):
    """Ring the handler a call was reserved for; the caller hears ringing until they answer."""

    kind: Literal["connect"] = "connect"
    locale: Locale
    say: tuple[Spoken, ...]
    member: str
    handler: str
    offer: int
    device_kind: Literal["client", "number"]
    address: str
    timeout_seconds: int
    priority: Priority = Priority.STANDARD  # carried on, so that a failure knows an emergency


class Whisper(Frozen):
    """What the handler hears on answering, before the caller is put through; a handler
    answering an offer that is no longer live hears why, and is hung up on."""

    kind: Literal["whisper"] = "whisper"
    say: tuple[Spoken, ...]
    accept: bool
    locale: Locale = Locale.EN  # handlers hear English; a greeted patient, their own language


class CallbackBridge(Frozen):
    """On a callback's first leg: ring the other party (the patient after the handler, or the
    handler after the patient) and bridge them when they answer."""

    kind: Literal["callback_bridge"] = "callback_bridge"
    locale: Locale
    say: tuple[Spoken, ...]
    callback: str
    handler: str
    offer: int
    first: Literal["handler", "patient"]
    to_kind: Literal["client", "number"]
    address: str
    timeout_seconds: int
    machine_detection: bool


class Room(Frozen):
    """Join the conference room of a warm transfer: the caller, the handler who sent them on
    (to introduce the case, then leave), and the clinician or dispatcher who takes them. Who
    joins decides where its Dial's action goes when they leave: `call` is the caller's CallSid,
    `handler` the id of the handler who sent them on (their leg's action names them; the room's
    recording is kept with them), where it is known."""

    kind: Literal["room"] = "room"
    locale: Locale
    say: tuple[Spoken, ...] = ()
    room: str
    who: Literal["caller", "handler", "dispatcher"]
    call: str
    handler: str = ""
    end_on_exit: bool = False  # the room ends when this one leaves


class Feedback(Frozen):
    """The Friends and Family Test question, on the caller's own line once their handler has
    ended the call: a key from 1 (very good) to 6 (don't know), or nothing, and goodbye."""

    kind: Literal["feedback"] = "feedback"
    locale: Locale
    queue: str
    handler: str
    day: str  # when asked (London, YYYY-MM-DD): the answer is counted with the question
    attempt: int = 0
    say: tuple[Spoken, ...] = ()  # before the question (that a key was not one of them)


Decision = (
    Ask
    | Enqueue
    | Dial
    | Hold
    | Leave
    | Goodbye
    | Nothing
    | Retry
    | Continue
    | Connect
    | Whisper
    | CallbackBridge
    | Room
    | Feedback
)
