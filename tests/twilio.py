"""Test helpers that act as Twilio in-process: signed webhooks, and TwiML parsed for assertions."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2 as httpx
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

# What Twilio accepts where (verbs and their nouns), to catch TwiML Twilio would refuse.
ALLOWED_CHILDREN: dict[str, set[str]] = {
    "Response": {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Redirect",
        "Enqueue",
        "Leave",
        "Dial",
        "Hangup",
    },
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Number", "Client", "Conference"},
}


class Twiml:
    """A TwiML document, checked for shape on parsing."""

    def __init__(self, xml: str) -> None:
        self.xml = xml
        self.root = ET.fromstring(xml)
        assert self.root.tag == "Response", f"root is {self.root.tag}"
        check_nesting(self.root)

    @property
    def verbs(self) -> list[str]:
        return [element.tag for element in self.root]

    @property
    def said(self) -> list[str]:
        return [element.text or "" for element in self.root.iter("Say")]

    @property
    def text(self) -> str:
        return " ".join(self.said)

    def first(self, tag: str) -> ET.Element:
        element = self.root.find(f".//{tag}")
        assert element is not None, f"no <{tag}> in {self.xml}"
        return element

    def has(self, tag: str) -> bool:
        return self.root.find(f".//{tag}") is not None


# What Twilio runs in an <Enqueue>'s waitUrl: anything else there is an application error.
WAIT_URL_VERBS = {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}


def check_nesting(element: ET.Element) -> None:
    allowed = ALLOWED_CHILDREN.get(element.tag, set())
    for child in element:
        assert child.tag in allowed, f"<{child.tag}> is not allowed in <{element.tag}>"
        check_nesting(child)


def new_sid() -> str:
    return "CA" + secrets.token_hex(16)


class TwilioClient:
    def __init__(self, client: TestClient, auth_token: str, public_base_url: str) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.base = public_base_url.rstrip("/")

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else self.base + path_or_url

    def post(
        self,
        path_or_url: str,
        params: dict[str, str],
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST as Twilio does, signed over the public URL unless a signature is given."""
        url = self.url(path_or_url)
        parts = urlsplit(url)
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = dict(headers or {})
        sent["X-Twilio-Signature"] = (
            signature if signature is not None else self.validator.compute_signature(url, params)
        )
        return self.client.post(local, data=params, headers=sent)

    def twiml(self, path_or_url: str, params: dict[str, str]) -> Twiml:
        response = self.post(path_or_url, params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return Twiml(response.text)

    def call(self, caller: str, line: str, sid: str | None = None) -> Call:
        return Call(self, sid or new_sid(), caller, line)


@dataclass
class Call:
    """One call, followed step by step the way Twilio follows TwiML."""

    twilio: TwilioClient
    sid: str
    caller: str
    line: str
    heard: list[Twiml] = field(default_factory=list)

    def params(self, **extra: str) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": self.line,
            "Caller": self.caller,
            "Called": self.line,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def _got(self, twiml: Twiml) -> Twiml:
        self.heard.append(twiml)
        return twiml

    def start(self) -> Twiml:
        return self._got(self.twilio.twiml("/twilio/voice", self.params(CallStatus="ringing")))

    def press(self, twiml: Twiml, digits: str) -> Twiml:
        action = twiml.first("Gather").get("action", "")
        return self._got(self.twilio.twiml(action, self.params(Digits=digits)))

    def say_words(self, twiml: Twiml, words: str) -> Twiml:
        action = twiml.first("Gather").get("action", "")
        return self._got(
            self.twilio.twiml(action, self.params(SpeechResult=words, Confidence="0.9"))
        )

    def silence(self, twiml: Twiml) -> Twiml:
        """No input: Twilio moves on to the `<Redirect>` after the `<Gather>`."""
        return self._got(self.twilio.twiml(twiml.first("Redirect").text or "", self.params()))

    def hold(self, twiml: Twiml, queue_time: int = 0) -> Twiml:
        """One request to the wait URL of the `<Enqueue>` (or the hold loop's own redirect)."""
        element = twiml.root.find("Enqueue")
        url = element.get("waitUrl", "") if element is not None else twiml.first("Redirect").text
        waiting = self.twilio.twiml(
            url or "", self.params(QueueTime=str(queue_time), QueuePosition="1")
        )
        refused = set(waiting.verbs) - WAIT_URL_VERBS
        assert not refused, f"Twilio refuses {refused} in a queue's wait loop: {waiting.xml}"
        return self._got(waiting)

    def leave_queue(self, enqueue: Twiml, result: str = "leave") -> Twiml:
        action = enqueue.first("Enqueue").get("action", "")
        return self._got(self.twilio.twiml(action, self.params(QueueResult=result, QueueTime="0")))

    def status(self, status: str, sequence: int = 0) -> httpx.Response:
        return self.twilio.post(
            "/twilio/status", self.params(CallStatus=status, SequenceNumber=str(sequence))
        )
