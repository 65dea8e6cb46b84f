"""The URLs Lifeline puts in its TwiML, with the IVR state in their query strings (read back by
ivr/states.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from config import paths
from prompts.catalogue import Locale
from routing.decisions import Step
from routing.models import Answers, Priority

VOICE = "/twilio/voice"
STATUS = "/twilio/status"
FALLBACK = "/twilio/fallback"
STEP = "/twilio/ivr/{step}"
CONTINUE = "/twilio/ivr/continue"
HOLD = "/twilio/hold"
QUEUE_EXIT = "/twilio/queue-exit"
DISPATCH_RESULT = "/twilio/dispatch-result"
DISPATCH_WHISPER = "/twilio/dispatch-whisper"
CONNECT = paths.CONNECT
CALLBACK_ANSWER = paths.CALLBACK_ANSWER
CALLBACK_STATUS = paths.CALLBACK_STATUS
CALLBACK_GREET = "/twilio/callback/greet"
CALLBACK_WHISPER = "/twilio/callback/whisper"
CALLBACK_RESULT = "/twilio/callback/result"
WHISPER = "/twilio/whisper"
CONNECT_RESULT = "/twilio/connect-result"
RETRY = "/twilio/retry"
TRANSFER_LEG = paths.TRANSFER_LEG
TO_QUEUE = paths.TO_QUEUE
TO_DISPATCH = paths.TO_DISPATCH
CLINICIAN_STATUS = paths.CLINICIAN_STATUS
DISPATCHER = paths.DISPATCHER
DISPATCHER_STATUS = paths.DISPATCHER_STATUS
ROOM_EXIT = "/twilio/transfer/room-exit"  # the caller's (or dispatcher's) room Dial is over
HANDLER_LEFT = "/twilio/transfer/handler-left"  # the handler's room Dial is over
ROOM_EVENTS = "/twilio/transfer/room-events"  # the room's status callbacks
FALLBACK_LINE_RESULT = "/twilio/fallback-line-result"
RECORDING = "/twilio/recording"  # Twilio's recording status callbacks
FEEDBACK = "/twilio/feedback"  # the caller's answer to the feedback question


def query_of(answers: Answers, **extra: int) -> str:
    values: dict[str, str | int] = {
        key: str(value)
        for key, value in answers.model_dump(mode="json", exclude_defaults=True).items()
    }
    for flag in ("repeat", "has_callback"):
        if getattr(answers, flag):
            values[flag] = 1
    values.update({key: value for key, value in extra.items() if value})
    return urlencode(values)


class Urls:
    def __init__(self, public_base_url: str) -> None:
        self.base = public_base_url.rstrip("/")

    def _with(self, path: str, query: str) -> str:
        return f"{self.base}{path}?{query}" if query else f"{self.base}{path}"

    def step(self, step: Step, answers: Answers, attempt: int = 0) -> str:
        return self._with(STEP.format(step=step.value), query_of(answers, attempt=attempt))

    def resume(self, answers: Answers, turn: int = 0) -> str:
        return self._with(CONTINUE, query_of(answers, turn=turn))

    def retry(self, answers: Answers, turn: int, down_since: int) -> str:
        return self._with(RETRY, query_of(answers, turn=turn, down_since=down_since))

    def fallback_line_result(self, answers: Answers) -> str:
        return self._with(FALLBACK_LINE_RESULT, query_of(answers))

    def hold(self, locale: Locale, priority: Priority, turn: int = 0, down_since: int = 0) -> str:
        query = (
            {"locale": locale.value, "priority": int(priority)}
            | ({"turn": turn} if turn else {})
            | ({"down_since": down_since} if down_since else {})
        )
        return self._with(HOLD, urlencode(query))

    def queue_exit(self, locale: Locale, priority: Priority) -> str:
        return self._with(
            QUEUE_EXIT, urlencode({"locale": locale.value, "priority": int(priority)})
        )

    def dispatch_result(
        self, attempt: int = 0, purpose: str = "dispatch", locale: Locale = Locale.EN
    ) -> str:
        """Carries the caller's language (when not English), so that a caller who must hear
        more, with Redis gone, hears it in their language."""
        query = (
            ({"attempt": attempt} if attempt else {})
            | ({"purpose": purpose} if purpose != "dispatch" else {})
            | ({"locale": locale.value} if locale is not Locale.EN else {})
        )
        return self._with(DISPATCH_RESULT, urlencode(query))

    def whisper(self, member: str, handler: str, offer: int) -> str:
        return self._with(WHISPER, urlencode({"call": member, "handler": handler, "offer": offer}))

    def connect_result(self, handler: str, offer: int, locale: Locale, priority: Priority) -> str:
        """Carries the caller's language and priority: an emergency whose result cannot be
        handled still goes to the dispatch line, in their language."""
        query = {"handler": handler, "offer": offer, "priority": int(priority)}
        return self._with(CONNECT_RESULT, urlencode(query | {"locale": locale.value}))

    def room_exit(self, call: str, locale: Locale, who: str) -> str:
        return self._with(ROOM_EXIT, urlencode({"call": call, "locale": locale.value, "who": who}))

    def room_events(self, call: str) -> str:
        return self._with(ROOM_EVENTS, urlencode({"call": call}))

    def handler_left(self, call: str, handler: str) -> str:
        return self._with(HANDLER_LEFT, urlencode({"call": call, "handler": handler}))

    def dispatch_whisper(self, case_id: str) -> str:
        return self._with(DISPATCH_WHISPER, urlencode({"case": case_id}))

    def callback(self, path: str, callback_id: str, handler: str, offer: int, leg: str) -> str:
        return self.base + paths.callback(path, callback_id, handler, offer, leg)

    def recording(self, kind: str, handler: str = "", callback: str = "", call: str = "") -> str:
        """Where Twilio tells of a recording: what was recorded, whose handler, which callback,
        and for a room (whose callback names no call) the caller's call; a `<Dial>`'s call is
        the request's own CallSid."""
        query = (
            {"kind": kind}
            | ({"handler": handler} if handler else {})
            | ({"cb": callback} if callback else {})
            | ({"call": call} if call else {})
        )
        return self._with(RECORDING, urlencode(query))

    def feedback(self, locale: Locale, queue: str, handler: str, day: str, attempt: int = 0) -> str:
        query = {"locale": locale.value, "queue": queue, "handler": handler, "day": day}
        return self._with(FEEDBACK, urlencode(query | ({"attempt": attempt} if attempt else {})))

    def fallback(self, step: str, locale: Locale = Locale.EN) -> str:
        query = {"step": step} | ({"locale": locale.value} if locale is not Locale.EN else {})
        return self._with(FALLBACK, urlencode(query))


def locale_in(url: str) -> Locale | None:
    """The caller's language as one of our URLs carries it (the failed request's, say)."""
    query = dict(parse_qsl(urlsplit(url).query))
    try:
        return Locale(query["locale"]) if "locale" in query else None
    except ValueError:
        return None
