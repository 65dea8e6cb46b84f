"""Decisions rendered as TwiML, with twilio's own builder. Pure: the same decision, the same XML."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from twilio.twiml.voice_response import Dial as DialVerb
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr import urls
from ivr.urls import Urls
from prompts.catalogue import Catalogue, Locale, PromptId
from routing.decisions import (
    Ask,
    CallbackBridge,
    Connect,
    Continue,
    Decision,
    Dial,
    Enqueue,
    Feedback,
    Goodbye,
    Hold,
    Leave,
    Nothing,
    Retry,
    Room,
    Spoken,
    Step,
    Whisper,
)
from routing.models import Answers

log = logging.getLogger(__name__)

GATHER_TIMEOUT_SECONDS = 5  # Twilio's default; the caller has this long after the prompt ends
NUMBER_TIMEOUT_SECONDS = 10  # between digits while keying in a phone number
DIAL_TIMEOUT_SECONDS = 30
RETRY_GATHER_SECONDS = 3
# The bridged conversation recorded, each party on its own channel, from the moment they are
# bridged (the whisper to the handler is before it); Twilio reports a completed recording, and
# one with no audio ("absent"), to the recording status callback.
RECORD = "record-from-answer-dual"
# A warm transfer's room, mixed on one channel (all Twilio records of a conference), from the
# moment it starts; the `<Conference>` of whoever's join starts it asks for it, so each does.
RECORD_ROOM = "record-from-start"
RECORDING_EVENTS = "completed absent"
# Characters XML 1.0 cannot carry at all, escaped or not: one in a value (a supervisor's outage
# message, a case id in a URL) would make the whole answer unreadable to Twilio.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Renderer:
    def __init__(self, catalogue: Catalogue, urls: Urls, record: bool = True) -> None:
        """`record`: whether conversations are recorded (RECORD_CALLS)."""
        self.catalogue = catalogue
        self.urls = urls
        self.record = record
        self.render = lru_cache(maxsize=4096)(self._render)
        self.last_resort = self._render(
            Ask(
                step=Step.EMERGENCY,
                locale=Locale.EN,
                answers=Answers(locale=Locale.EN),
                say=(
                    Spoken(prompt=PromptId.TECHNICAL_DIFFICULTY),
                    Spoken(prompt=PromptId.EMERGENCY_SCREEN),
                ),
                speech=True,
                fallback=True,
            )
        )

    def _render(self, decision: Decision) -> str:
        response = VoiceResponse()
        match decision:
            case Ask():
                self._ask(response, decision)
            case Enqueue():
                self._say(response, decision.locale, decision.say)
                response.enqueue(
                    decision.queue,
                    action=self.urls.queue_exit(decision.locale, decision.priority),
                    method="POST",
                    wait_url=self.urls.hold(decision.locale, decision.priority),
                    wait_url_method="POST",
                )
            case Hold():
                self._say(response, decision.locale, decision.say)
                if decision.offer is not None:
                    self._gather(response, decision.offer, redirect=False)
                response.pause(length=decision.pause_seconds)
                next_turn = self.urls.hold(
                    decision.locale, decision.priority, decision.turn + 1, decision.down_since
                )
                response.redirect(next_turn, method="POST")
            case Leave():
                response.leave()
            case Dial():
                self._say(response, decision.locale, decision.say)
                if decision.fallback:
                    result_url = self.urls.fallback("dispatched", decision.locale)
                elif decision.purpose == "fallback_line":
                    result_url = self.urls.fallback_line_result(decision.answers)
                else:
                    result_url = self.urls.dispatch_result(
                        decision.attempt, decision.purpose, decision.locale
                    )
                recorded = decision.purpose == "dispatch"
                dial = DialVerb(
                    action=result_url,
                    method="POST",
                    timeout=DIAL_TIMEOUT_SECONDS,
                    answer_on_bridge=True,
                    **(self._recording("dispatch") if recorded else {}),
                )
                if decision.case_id:
                    whisper = self.urls.dispatch_whisper(decision.case_id)
                    dial.number(decision.number, url=whisper, method="POST")
                else:
                    dial.number(decision.number)
                response.append(dial)
            case Goodbye():
                self._say(response, decision.locale, decision.say)
                response.hangup()
            case Retry():
                # A key or silence alike come back to the retry loop, which knows since when.
                next_turn = self.urls.retry(
                    decision.answers, decision.turn + 1, decision.down_since
                )
                gather = Gather(
                    action=next_turn,
                    method="POST",
                    num_digits=1,
                    timeout=RETRY_GATHER_SECONDS,
                    **self._input(decision.locale, speech=True),
                )
                self._say(gather, decision.locale, decision.say)
                self._say_prompt(gather, decision.locale, decision.emergency)
                response.append(gather)
                response.pause(length=decision.pause_seconds)
                response.redirect(next_turn, method="POST")
            case Connect():
                self._say(response, decision.locale, decision.say)
                dial = DialVerb(
                    action=self.urls.connect_result(
                        decision.handler, decision.offer, decision.locale, decision.priority
                    ),
                    method="POST",
                    timeout=decision.timeout_seconds,
                    answer_on_bridge=True,
                    **self._recording("call", handler=decision.handler),
                )
                whisper = self.urls.whisper(decision.member, decision.handler, decision.offer)
                if decision.device_kind == "client":
                    dial.client(decision.address, url=whisper, method="POST")
                else:
                    dial.number(decision.address, url=whisper, method="POST")
                response.append(dial)
            case CallbackBridge():
                self._say(response, decision.locale, decision.say)
                ids = (decision.callback, decision.handler, decision.offer, decision.first)
                dial = DialVerb(
                    action=self.urls.callback(urls.CALLBACK_RESULT, *ids),
                    method="POST",
                    timeout=decision.timeout_seconds,
                    answer_on_bridge=True,
                    **self._recording(
                        "callback", handler=decision.handler, callback=decision.callback
                    ),
                )
                if decision.to_kind == "client":
                    whisper = self.urls.callback(urls.CALLBACK_WHISPER, *ids)
                    dial.client(decision.address, url=whisper, method="POST")
                else:
                    greet = self.urls.callback(urls.CALLBACK_GREET, *ids)
                    detection = (
                        {"machine_detection": "Enable"} if decision.machine_detection else {}
                    )
                    dial.number(decision.address, url=greet, method="POST", **detection)
                response.append(dial)
            case Room():
                self._say(response, decision.locale, decision.say)
                action = (
                    self.urls.handler_left(decision.call, decision.handler)
                    if decision.who == "handler"
                    else self.urls.room_exit(decision.call, decision.locale, decision.who)
                )
                dial = DialVerb(action=action, method="POST")
                # The room's status callback (the first to join names it, the handler or the
                # caller): the handler leaving is heard there too, besides their own Dial's action.
                events = (
                    {
                        "status_callback": self.urls.room_events(decision.call),
                        "status_callback_event": "leave",
                        "status_callback_method": "POST",
                    }
                    if decision.who in ("caller", "handler")
                    else {}
                )
                dial.conference(
                    decision.room,
                    participant_label=decision.who,
                    start_conference_on_enter=True,
                    end_conference_on_exit=decision.end_on_exit,
                    beep=False,
                    **events,
                    **self._room_recording(decision),
                )
                response.append(dial)
            case Whisper():
                self._say(response, decision.locale, decision.say)
                if not decision.accept:
                    response.hangup()
            case Continue():
                self._say(response, decision.locale, decision.say)
                response.redirect(self.urls.resume(decision.answers), method="POST")
            case Feedback():
                gather = Gather(
                    action=self.urls.feedback(
                        decision.locale,
                        decision.queue,
                        decision.handler,
                        decision.day,
                        decision.attempt,
                    ),
                    method="POST",
                    num_digits=1,
                    timeout=GATHER_TIMEOUT_SECONDS,
                    input="dtmf",
                )
                self._say(gather, decision.locale, decision.say)
                self._say_prompt(gather, decision.locale, PromptId.FEEDBACK_QUESTION)
                response.append(gather)
                self._say_prompt(response, decision.locale, PromptId.FEEDBACK_GOODBYE)
                response.hangup()
            case Nothing():
                pass
        return str(response)

    def _recording(self, kind: str, handler: str = "", callback: str = "") -> dict[str, str]:
        """A `<Dial>`'s recording attributes: none when calls are not recorded. Twilio records
        beside the call: a recording that fails does not stop the call being bridged."""
        if not self.record:
            return {}
        return {
            "record": RECORD,
            "recording_status_callback": self.urls.recording(kind, handler, callback),
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": RECORDING_EVENTS,
        }

    def _room_recording(self, room: Room) -> dict[str, str]:
        """A room's `<Conference>` recording attributes: none when calls are not recorded. The
        callback names the caller's call and the handler: Twilio's names neither."""
        if not self.record:
            return {}
        return {
            "record": RECORD_ROOM,
            "recording_status_callback": self.urls.recording(
                "room", handler=room.handler, call=room.call
            ),
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": RECORDING_EVENTS,
        }

    def render_safely(self, decision: Decision) -> str:
        """`render`, or if even that fails, the emergency screen built when the app started."""
        try:
            return self.render(decision)
        except Exception:
            log.exception("could not render the safe route; answered with the built-in one")
            return self.last_resort

    def _ask(self, response: VoiceResponse, ask: Ask) -> None:
        self._gather(response, ask, redirect=True)

    def _gather(self, response: VoiceResponse, ask: Ask, redirect: bool) -> None:
        """A question; with `redirect`, silence comes back to the same action without digits."""
        action = (
            self.urls.fallback(ask.step.value, ask.answers.language)
            if ask.fallback
            else self.urls.step(ask.step, ask.answers, ask.attempt)
        )
        options: dict[str, object] = {"action": action, "method": "POST"}
        if ask.num_digits is None:
            options.update(finish_on_key="#", timeout=NUMBER_TIMEOUT_SECONDS)
        else:
            options.update(num_digits=ask.num_digits, timeout=GATHER_TIMEOUT_SECONDS)
        options.update(self._input(ask.locale, ask.speech))
        gather = Gather(**options)
        if ask.bilingual:
            for locale in (Locale.CY, Locale.EN):
                for spoken in ask.say:
                    self._say_one(gather, locale, spoken)
        else:
            self._say(gather, ask.locale, ask.say)
        response.append(gather)
        if redirect:
            response.redirect(action, method="POST")

    def _input(self, locale: Locale, speech: bool) -> dict[str, object]:
        voice = self.catalogue.voice(locale)
        if speech and voice.speech_recognition:
            return {
                "input": "dtmf speech",
                "language": voice.language,
                "speech_timeout": "auto",
                "hints": "yes, no",
            }
        return {"input": "dtmf"}

    def _say(
        self, verb: VoiceResponse | Gather, locale: Locale, spoken: tuple[Spoken, ...]
    ) -> None:
        for item in spoken:
            self._say_one(verb, locale, item)

    def _say_prompt(self, verb: VoiceResponse | Gather, locale: Locale, prompt: PromptId) -> None:
        self._say_one(verb, locale, Spoken(prompt=prompt))

    def _say_one(self, verb: VoiceResponse | Gather, locale: Locale, spoken: Spoken) -> None:
        voice = self.catalogue.voice(locale)
        text = self.catalogue.text(locale, spoken.prompt, **dict(spoken.values))
        verb.say(NOT_XML.sub("", text), voice=voice.voice, language=voice.language)
