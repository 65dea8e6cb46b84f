"""Parse and validate TwiML strictly: what Twilio would reject (12100/12200) is an error here."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from sim.phone.errors import DOCUMENT_PARSE_FAILURE, CallError
from sim.phone.schema import (
    ALLOWED_VERBS,
    ATTRIBUTES,
    BEEP,
    LANGUAGE,
    MAX_CONFERENCE_NAME,
    MAX_QUEUE_NAME,
    NOT_SIMULATED,
    NUMBER,
    NUMBER_SEPARATORS,
    RECORD_MODES,
    RECORDING_EVENTS,
    RECORDING_TRACKS,
    ROOM_RECORD_MODES,
    SSML_TAGS,
    VOICE,
)
from sim.phone.twiml_attributes import StrictAttributes
from sim.phone.verbs import (
    ConferenceRoom,
    Context,
    Dial,
    DialRecording,
    DialTarget,
    Document,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Play,
    Prompt,
    Redirect,
    Reject,
    RoomRecording,
    Say,
    Verb,
)


def parse_twiml(body: bytes, url: str | None, context: Context) -> Document:
    """The whole document is checked before anything runs, as Twilio does."""
    if not body.strip():
        raise CallError(DOCUMENT_PARSE_FAILURE, "Document parse failure: empty document", url)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CallError(DOCUMENT_PARSE_FAILURE, "Document parse failure: DTDs not allowed", url)
    try:
        root = ET.fromstring(body)  # noqa: S314  # no DTD (checked above), so no entity expansion
    except (ET.ParseError, ValueError) as error:
        raise CallError(DOCUMENT_PARSE_FAILURE, f"Document parse failure: {error}", url) from None
    return Document(url=url, verbs=_Parser(url, context).response(root))


class _Parser(StrictAttributes):
    def __init__(self, url: str | None, context: Context) -> None:
        super().__init__(url)
        self.context = context

    def response(self, root: ET.Element) -> tuple[Verb, ...]:
        if root.tag != "Response":
            raise self.fail(f"root element is <{root.tag}>, not <Response>")
        self.attributes(root)
        self.no_text(root, root.text)
        verbs: list[Verb] = []
        for element in root:
            self.no_text(root, element.tail)
            if element.tag not in ALLOWED_VERBS[self.context]:
                raise self.misplaced(element.tag, f"{self.context.value} document")
            verbs.append(self.verb(element))
        return tuple(verbs)

    def misplaced(self, tag: str, where: str) -> CallError:
        if tag in NOT_SIMULATED:
            return self.fail(f"<{tag}> is TwiML the sim does not execute")
        if tag in ATTRIBUTES and tag != "Response":
            return self.fail(f"<{tag}> is not allowed in a {where}")
        return self.fail(f"unknown verb <{tag}>")

    def verb(self, element: ET.Element) -> Verb:
        parsers: dict[str, Callable[[ET.Element], Verb]] = {
            "Say": self.say,
            "Play": self.play,
            "Pause": self.pause,
            "Hangup": self.bare(Hangup()),
            "Leave": self.bare(Leave()),
            "Reject": self.reject,
            "Redirect": self.redirect,
            "Gather": self.gather,
            "Enqueue": self.enqueue,
            "Dial": self.dial,
        }
        return parsers[element.tag](element)

    def bare(self, verb: Verb) -> Callable[[ET.Element], Verb]:
        def parse(element: ET.Element) -> Verb:
            self.attributes(element)
            self.no_children(element)
            self.no_text(element, element.text)
            return verb

        return parse

    # -- verbs --------------------------------------------------------------------------------

    def say(self, element: ET.Element) -> Say:
        attrs = self.attributes(element)
        for node in element.iter():
            if node is not element and node.tag not in SSML_TAGS:
                raise self.fail(f"<{node.tag}> cannot be nested in <Say>")
        text = " ".join("".join(element.itertext()).split())
        if not text:
            raise self.fail("<Say> needs text to speak")
        voice, language = attrs.get("voice"), attrs.get("language")
        if voice is not None and not VOICE.match(voice):
            raise self.fail(f"voice={voice!r} on <Say> is not a Twilio voice")
        if language is not None and not LANGUAGE.match(language):
            raise self.fail(f"language={language!r} on <Say> is not a language tag")
        loop = self.integer(element, "loop", 1, 0)
        return Say(text=text, voice=voice, language=language, loop=loop)

    def play(self, element: ET.Element) -> Play:
        attrs = self.attributes(element)
        self.no_children(element)
        digits = attrs.get("digits")
        if digits is not None and not re.fullmatch(r"[0-9#*wW]+", digits):
            raise self.fail(f"digits={digits!r} on <Play> must be 0-9, #, * or w")
        raw = (element.text or "").strip()
        if not raw and digits is None:
            raise self.fail("<Play> needs a URL or a digits attribute")
        url = self.url(element, raw, "URL") if raw else None
        return Play(url=url, loop=self.integer(element, "loop", 1, 0), digits=digits)

    def pause(self, element: ET.Element) -> Pause:
        self.attributes(element)
        self.no_children(element)
        self.no_text(element, element.text)
        return Pause(length=self.integer(element, "length", 1, 1))

    def reject(self, element: ET.Element) -> Reject:
        self.attributes(element)
        self.no_children(element)
        self.no_text(element, element.text)
        return Reject(reason=self.choice(element, "reason", {"rejected", "busy"}, "rejected"))

    def redirect(self, element: ET.Element) -> Redirect:
        self.attributes(element)
        url = self.url(element, self.text(element, "a URL"), "URL")
        assert url is not None
        return Redirect(url=url, method=self.method(element))

    def gather(self, element: ET.Element) -> Gather:
        attrs = self.attributes(element)
        self.no_text(element, element.text)
        prompts: list[Prompt] = []
        for child in element:
            self.no_text(element, child.tail)
            if child.tag == "Say":
                prompts.append(self.say(child))
            elif child.tag == "Play":
                prompts.append(self.play(child))
            elif child.tag == "Pause":
                prompts.append(self.pause(child))
            else:
                raise self.misplaced(child.tag, "<Gather> (only Say, Play and Pause nest there)")
        inputs = frozenset(attrs.get("input", "dtmf").split())
        if not inputs or not inputs <= {"dtmf", "speech"}:
            raise self.fail(f"input={attrs['input']!r} on <Gather> must be dtmf, speech or both")
        finish_on_key = attrs.get("finishOnKey", "#")
        if finish_on_key not in set("0123456789#*") | {""}:
            raise self.fail(f"finishOnKey={finish_on_key!r} on <Gather> must be one key or ''")
        speech_timeout = attrs.get("speechTimeout")
        if speech_timeout is not None and speech_timeout != "auto":
            self.integer(element, "speechTimeout", 0, 1)
        language = attrs.get("language")
        if language is not None and not LANGUAGE.match(language):
            raise self.fail(f"language={language!r} on <Gather> is not a language tag")
        num_digits = self.integer(element, "numDigits", 0, 1) if "numDigits" in attrs else None
        return Gather(
            inputs=inputs,
            num_digits=num_digits,
            timeout=self.integer(element, "timeout", 5, 1),
            finish_on_key=finish_on_key,
            action=self.url(element, attrs.get("action"), "action"),
            method=self.method(element),
            action_on_empty_result=self.boolean(element, "actionOnEmptyResult", False),
            speech_timeout=speech_timeout,
            language=language,
            hints=attrs.get("hints"),
            prompts=tuple(prompts),
        )

    def enqueue(self, element: ET.Element) -> Enqueue:
        attrs = self.attributes(element)
        name = self.text(element, "a queue name")
        if len(name) > MAX_QUEUE_NAME:
            raise self.fail(f"queue name longer than {MAX_QUEUE_NAME} characters")
        return Enqueue(
            name=name,
            action=self.url(element, attrs.get("action"), "action"),
            method=self.method(element),
            wait_url=self.url(element, attrs.get("waitUrl"), "waitUrl"),
            wait_url_method=self.method(element, "waitUrlMethod"),
        )

    def dial(self, element: ET.Element) -> Dial:
        attrs = self.attributes(element)
        targets: list[DialTarget] = []
        rooms: list[ConferenceRoom] = []
        bare = (element.text or "").strip()
        for child in element:
            self.no_text(element, child.tail)
            if child.tag == "Number":
                targets.append(self.number(child))
            elif child.tag == "Client":
                targets.append(self.client(child))
            elif child.tag == "Conference":
                rooms.append(self.conference(child))
            else:
                raise self.misplaced(
                    child.tag, "<Dial> (the sim dials Number, Client and Conference)"
                )
        if bare and (targets or rooms):
            raise self.fail("<Dial> mixes a bare number with nouns")
        if rooms and (targets or len(rooms) > 1):
            raise self.fail("<Conference> must be the only noun in its <Dial>")
        if bare:
            targets.append(self.target(element, self.phone_number(element, bare), {}))
        if not targets and not rooms:
            raise self.fail("<Dial> needs a number or a noun to dial")
        caller_id = attrs.get("callerId")
        return Dial(
            targets=tuple(targets),
            conference=rooms[0] if rooms else None,
            action=self.url(element, attrs.get("action"), "action"),
            method=self.method(element),
            timeout=self.integer(element, "timeout", 30, 1),
            caller_id=caller_id.strip() if caller_id else None,
            answer_on_bridge=self.boolean(element, "answerOnBridge", False),
            time_limit=self.integer(element, "timeLimit", 14400, 1),
            record=self.recording(element),
        )

    def recording(self, element: ET.Element) -> DialRecording | None:
        """Every recording attribute is checked, even when `record` says not to record."""
        mode = self.choice(element, "record", set(RECORD_MODES), "do-not-record")
        callback = element.get("recordingStatusCallback")
        recording = DialRecording(
            from_ringing=mode.startswith("record-from-ringing"),
            dual=mode.endswith("-dual"),
            track=self.choice(element, "recordingTrack", set(RECORDING_TRACKS), "both"),
            status_callback=self.url(element, callback, "recordingStatusCallback"),
            status_callback_method=self.method(element, "recordingStatusCallbackMethod"),
            status_callback_events=self.events(
                element, "recordingStatusCallbackEvent", RECORDING_EVENTS
            ),
        )
        return None if mode == "do-not-record" else recording

    def conference(self, element: ET.Element) -> ConferenceRoom:
        attrs = self.attributes(element)
        name = self.text(element, "a conference name")
        if len(name) > MAX_CONFERENCE_NAME:
            raise self.fail(f"conference name longer than {MAX_CONFERENCE_NAME} characters")
        self.choice(element, "beep", set(BEEP), "true")  # the sim plays no beeps
        self.method(element, "waitMethod")
        raw_wait = attrs.get("waitUrl")
        wait_url = "" if raw_wait is not None and not raw_wait.strip() else raw_wait
        label = attrs.get("participantLabel")
        return ConferenceRoom(
            name=name,
            muted=self.boolean(element, "muted", False),
            start_on_enter=self.boolean(element, "startConferenceOnEnter", True),
            end_on_exit=self.boolean(element, "endConferenceOnExit", False),
            wait_url=self.url(element, wait_url, "waitUrl") if wait_url else wait_url,
            status_callback=self.url(element, attrs.get("statusCallback"), "statusCallback"),
            status_callback_method=self.method(element, "statusCallbackMethod"),
            status_callback_events=self.conference_events(element),
            label=label.strip() if label and label.strip() else None,
            record=self.room_recording(element),
        )

    def room_recording(self, element: ET.Element) -> RoomRecording | None:
        """Every recording attribute is checked, even when `record` says not to record."""
        mode = self.choice(element, "record", set(ROOM_RECORD_MODES), "do-not-record")
        callback = element.get("recordingStatusCallback")
        recording = RoomRecording(
            status_callback=self.url(element, callback, "recordingStatusCallback"),
            status_callback_method=self.method(element, "recordingStatusCallbackMethod"),
            status_callback_events=self.events(
                element, "recordingStatusCallbackEvent", RECORDING_EVENTS
            ),
        )
        return None if mode == "do-not-record" else recording

    def phone_number(self, element: ET.Element, raw: str) -> str:
        number = NUMBER_SEPARATORS.sub("", raw)
        if not NUMBER.match(number):
            raise self.fail(f"{raw!r} in <{element.tag}> is not a phone number")
        return number

    def number(self, element: ET.Element) -> DialTarget:
        attrs = self.attributes(element)
        address = self.phone_number(element, self.text(element, "a phone number"))
        detection = attrs.get("machineDetection")
        if detection is not None and detection not in {"Enable", "DetectMessageEnd"}:
            raise self.fail(f"machineDetection={detection!r} on <Number> is not valid")
        return self.target(element, address, attrs)

    def client(self, element: ET.Element) -> DialTarget:
        attrs = self.attributes(element)
        identity = (element.text or "").strip()
        for child in element:
            if child.tag not in {"Identity", "Parameter"}:
                raise self.fail(f"<{child.tag}> cannot be nested in <Client>")
            self.attributes(child)
            if child.tag == "Identity":
                if identity:
                    raise self.fail("<Client> has more than one identity")
                identity = self.text(child, "an identity")
        if not identity or any(char.isspace() for char in identity):
            raise self.fail("<Client> needs one identity without spaces")
        return self.target(element, f"client:{identity}", attrs)

    def target(self, element: ET.Element, address: str, attrs: dict[str, str]) -> DialTarget:
        return DialTarget(
            address=address,
            url=self.url(element, attrs.get("url"), "url"),
            method=self.method(element),
            status_callback=self.url(element, attrs.get("statusCallback"), "statusCallback"),
            status_callback_method=self.method(element, "statusCallbackMethod"),
            status_callback_events=self.events(element),
            machine_detection=attrs.get("machineDetection"),
        )
