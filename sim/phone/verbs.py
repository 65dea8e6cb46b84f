"""TwiML verbs as plain values, and the document that holds them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urljoin, urlsplit

from sim.phone.errors import INVALID_URL, CallError


class Context(StrEnum):
    """Where a document runs; each allows its own verbs (Twilio's nesting rules)."""

    MAIN = "main"
    WAIT = "wait"
    WHISPER = "whisper"


@dataclass(frozen=True)
class Say:
    text: str
    voice: str | None
    language: str | None
    loop: int


@dataclass(frozen=True)
class Play:
    url: str | None
    loop: int
    digits: str | None


@dataclass(frozen=True)
class Pause:
    length: int


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str


@dataclass(frozen=True)
class Leave:
    pass


Prompt = Say | Play | Pause


@dataclass(frozen=True)
class Gather:
    inputs: frozenset[str]
    num_digits: int | None
    timeout: int
    finish_on_key: str
    action: str | None
    method: str
    action_on_empty_result: bool
    speech_timeout: str | None
    language: str | None
    hints: str | None
    prompts: tuple[Prompt, ...]


@dataclass(frozen=True)
class Enqueue:
    name: str
    action: str | None
    method: str
    wait_url: str | None
    wait_url_method: str


@dataclass(frozen=True)
class DialTarget:
    """A `<Number>`, a `<Client>` (address `client:<identity>`) or a bare number in `<Dial>`."""

    address: str
    url: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    machine_detection: str | None


@dataclass(frozen=True)
class RoomRecording:
    """`<Conference record="record-from-start">`: the room recorded, and the
    `recordingStatusCallback*` that hears how it went."""

    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]


@dataclass(frozen=True)
class ConferenceRoom:
    """`<Conference>` in `<Dial>`: the room's name and how this participant takes part;
    `record` None: do-not-record."""

    name: str
    muted: bool
    start_on_enter: bool
    end_on_exit: bool
    wait_url: str | None  # None: Twilio's hold music; "": silence
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    label: str | None
    record: RoomRecording | None


@dataclass(frozen=True)
class DialRecording:
    """`<Dial record="record-from-...">`: from ringing or from the bridge, one channel or one per
    party (`dual`), and the `recordingStatusCallback*` that hears how it went."""

    from_ringing: bool
    dual: bool
    track: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]


@dataclass(frozen=True)
class Dial:
    """Either `targets` to ring or one `conference` to join; `record` None: do-not-record."""

    targets: tuple[DialTarget, ...]
    conference: ConferenceRoom | None
    action: str | None
    method: str
    timeout: int
    caller_id: str | None
    answer_on_bridge: bool
    time_limit: int
    record: DialRecording | None


Verb = Say | Play | Pause | Hangup | Reject | Redirect | Leave | Gather | Enqueue | Dial


@dataclass(frozen=True)
class Document:
    """A parsed `<Response>`; `url` is where it came from (None for inline TwiML)."""

    url: str | None
    verbs: tuple[Verb, ...]

    def resolve(self, url: str | None) -> str:
        """An absolute URL: relative ones resolve against this document's URL, as Twilio does."""
        if url is None:
            if self.url is None:
                raise CallError(INVALID_URL, "inline TwiML has no document URL to default to", None)
            return self.url
        if urlsplit(url).scheme:
            return url
        if self.url is None:
            raise CallError(
                INVALID_URL, f"relative URL {url!r} in inline TwiML cannot be resolved", None
            )
        return urljoin(self.url, url)
