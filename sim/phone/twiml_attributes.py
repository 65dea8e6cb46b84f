"""Reading a TwiML element's attributes and content as strictly as Twilio does: an attribute it
does not know, a value out of its range, text where none belongs, each a schema error (12200)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from sim.phone.config import CALL_PROGRESS_EVENTS
from sim.phone.errors import SCHEMA_VALIDATION, CallError
from sim.phone.schema import ATTRIBUTES, CONFERENCE_EVENTS


class StrictAttributes:
    """The checks every verb's parser makes, failing with the document's URL."""

    def __init__(self, url: str | None) -> None:
        self.document_url = url

    def fail(self, message: str) -> CallError:
        return CallError(SCHEMA_VALIDATION, f"Schema validation: {message}", self.document_url)

    def attributes(self, element: ET.Element) -> dict[str, str]:
        unknown = sorted(set(element.attrib) - ATTRIBUTES[element.tag])
        if unknown:
            raise self.fail(f"unknown attribute {unknown[0]!r} on <{element.tag}>")
        return dict(element.attrib)

    def no_text(self, parent: ET.Element, text: str | None) -> None:
        if text and text.strip():
            raise self.fail(f"unexpected text {text.strip()[:40]!r} in <{parent.tag}>")

    def no_children(self, element: ET.Element) -> None:
        for child in element:
            raise self.fail(f"<{child.tag}> cannot be nested in <{element.tag}>")

    def text(self, element: ET.Element, what: str) -> str:
        self.no_children(element)
        value = (element.text or "").strip()
        if not value:
            raise self.fail(f"<{element.tag}> needs {what}")
        return value

    def integer(self, element: ET.Element, name: str, default: int, minimum: int) -> int:
        raw = element.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> is not an integer") from None
        if value < minimum:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> must be at least {minimum}")
        return value

    def method(self, element: ET.Element, name: str = "method") -> str:
        raw = element.get(name, "POST")
        if raw.upper() not in {"GET", "POST"}:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> must be GET or POST")
        return raw.upper()

    def boolean(self, element: ET.Element, name: str, default: bool) -> bool:
        raw = element.get(name)
        if raw is None:
            return default
        if raw not in {"true", "false"}:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> must be true or false")
        return raw == "true"

    def url(self, element: ET.Element, raw: str | None, name: str) -> str | None:
        if raw is None:
            return None
        value = raw.strip()
        scheme = urlsplit(value).scheme
        if scheme and scheme not in {"http", "https"}:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> is not an http(s) URL")
        return value

    def choice(self, element: ET.Element, name: str, allowed: set[str], default: str) -> str:
        raw = element.get(name, default)
        if raw not in allowed:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> must be one of {sorted(allowed)}")
        return raw

    def events(
        self,
        element: ET.Element,
        name: str = "statusCallbackEvent",
        allowed: frozenset[str] = CALL_PROGRESS_EVENTS,
    ) -> frozenset[str]:
        """Space-separated events, `completed` unless told, at least one of them."""
        raw = element.get(name, "completed")
        events = frozenset(raw.split())
        if not events or not events <= allowed:
            raise self.fail(f"{name}={raw!r} on <{element.tag}> is not valid")
        return events

    def conference_events(self, element: ET.Element) -> frozenset[str]:
        raw = element.get("statusCallbackEvent", "")
        events = frozenset(raw.split())
        if not events <= CONFERENCE_EVENTS:
            raise self.fail(f"statusCallbackEvent={raw!r} on <{element.tag}> is not valid")
        return events
