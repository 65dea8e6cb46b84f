"""The state each kind of URL carries in its query string: the caller's progress, shared by the
caller's URLs, and a small model per kind of URL. Twilio signs the full URL, query included, so
state carried there cannot be forged; and it keeps the IVR working when Redis does not."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Self, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prompts.catalogue import Locale
from routing.models import Answers, Priority


class State(BaseModel):
    """What a URL carries: nothing, for the URLs that carry no state."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Self:
        """The state in a URL; a query we did not write (it cannot be signed) starts afresh."""
        try:
            return cls.model_validate(cls.shaped(query))
        except ValidationError:
            return cls()

    @classmethod
    def shaped(cls, query: dict[str, str]) -> dict[str, object]:
        return dict(query)


class Progress(State):
    """The caller's answers so far, and where they are in the retry or hold loop."""

    answers: Answers = Answers()
    turn: int = Field(default=0, ge=0)
    # On retry and hold URLs while Redis is unreachable: since when (epoch seconds), so that how
    # long a caller has been without Redis is known without Redis.
    down_since: int = Field(default=0, ge=0)
    priority: Priority | None = None  # on queue URLs: lets an emergency go on without Redis

    @classmethod
    def shaped(cls, query: dict[str, str]) -> dict[str, object]:
        """The query is flat: the answers' fields sit beside the rest."""
        answers = {key: value for key, value in query.items() if key in Answers.model_fields}
        rest = {key: value for key, value in query.items() if key not in Answers.model_fields}
        return rest | {"answers": answers}

    @property
    def language(self) -> Locale:
        """The caller's language: the one they chose, English until they have."""
        return self.answers.language


class Asked(Progress):
    """A question's answer (and the Fallback URL's): which question, and which try at it."""

    step: str = ""  # from the path, or the fallback's query
    attempt: int = Field(default=0, ge=0, le=10)


class DialResult(Progress):
    """The result of a dial to the dispatch line, or to another service's line."""

    attempt: int = Field(default=0, ge=0, le=10)
    purpose: str = ""  # "overflow" for a diverted call


class Offered(Progress):
    """A reserved caller's connect, and its result: the offer being connected."""

    handler: str = ""
    offer: int = 0


class Whispered(State):
    """The handler's leg answered an offer."""

    call: str = ""  # the caller's CallSid (the request's is the handler's leg)
    handler: str = ""
    offer: int = 0


class SentOn(State):
    """A handler's leg moved off a call they sent on: where the caller went; warm, the call
    (the caller's CallSid) and the handler, whose leg joins its room."""

    to: str = ""
    warm: bool = False
    call: str = ""
    handler: str = ""


class InRoom(Progress):
    """A leg of a warm transfer's room (the caller's, the handler's or the dispatcher's), or a
    status callback of a call rung into it: the caller's CallSid, and who."""

    call: str = ""
    who: str = ""
    handler: str = ""
    offer: int = 0


class CallbackLeg(State):
    """A leg of a callback: which callback, its offer, and which leg rang first."""

    cb: str = ""
    handler: str = ""
    offer: int = 0
    leg: str = ""


class Recorded(State):
    """A recording's status callback: what was recorded, whose handler, which callback; for a
    room, the caller's call (Twilio's callback for a conference names none)."""

    kind: str = "call"
    handler: str = ""
    cb: str = ""
    call: Annotated[str, Field(pattern=r"^(CA[0-9a-fA-F]{32})?$")] = ""


class FeedbackAsked(State):
    """The feedback question's answer: the caller's language, their queue and handler, and
    which try."""

    locale: Locale = Locale.EN
    queue: str = ""
    handler: str = ""
    day: str = Field(default="", pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    attempt: int = Field(default=0, ge=0, le=10)


class DispatchWhisper(State):
    """The dispatcher answered: the case id to read out."""

    case: str = ""


StateT = TypeVar("StateT", bound=State)


def reader(model: type[StateT]) -> Callable[[bytes, str], StateT]:
    """`State.from_query` for a raw query string and the path's step. The same few URLs come back
    call after call (they are ours), so the parsed state is kept."""

    @lru_cache(maxsize=4096)
    def state_of(query_string: bytes, step: str) -> StateT:
        query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
        if step:
            query["step"] = step
        return model.from_query(query)

    return state_of
