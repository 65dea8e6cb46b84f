"""`lifeline call`: ring the line through the phone simulator and print what the caller hears."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, TextIO

import httpx

DTMF_KEYS = frozenset("0123456789#*")
SPEECH_PREFIX = "speech:"
POLL_SECONDS = 1.0
REQUEST_TIMEOUT = 15.0
DRAIN_SECONDS = 5.0
# Seven or more digits (spaces or dashes between them allowed) are taken to be a phone number.
PHONE_NUMBER = re.compile(r"\+?\d(?:[\s-]?\d){6,}")
HANGUPS = {
    "caller": "You hang up.",
    "app": "Lifeline hangs up.",
    "callee": "The other end hangs up.",
    "api": "Lifeline ends the call.",
    "error": "The call is dropped after an application error.",
}

EXIT_OK, EXIT_APPLICATION_ERROR, EXIT_UNREACHABLE = 0, 1, 2


def parse_presses(text: str) -> list[str]:
    """`"2,1"` → `["2", "1"]`: keys are DTMF, an empty entry is silence, words are speech."""
    presses = []
    for entry in (part.strip() for part in text.split(",")):
        if entry.startswith(SPEECH_PREFIX) or set(entry) <= DTMF_KEYS:
            presses.append(entry)
        else:
            presses.append(SPEECH_PREFIX + entry)
    return presses


def mask(text: str) -> str:
    """Show only the last three digits of anything that looks like a phone number."""
    return PHONE_NUMBER.sub(lambda match: "…" + re.sub(r"\D", "", match.group())[-3:], text)


class Transcript:
    """Turns the sim's call events into lines a person can follow."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.errors = 0

    def line(self, text: str, t: float | None = None) -> None:
        stamp = f"[{t:6.1f}s] " if t is not None else ""
        self._out.write(f"{stamp}{mask(text)}\n")
        self._out.flush()

    def show(self, event: dict[str, Any]) -> None:
        text = self._describe(event)
        if text:
            self.line(text, float(event.get("t", 0.0)))

    def _describe(self, event: dict[str, Any]) -> str | None:
        kind = event["type"]
        if kind == "say":
            return f'Lifeline: "{event["text"]}"'
        if kind == "play":
            name = str(event.get("url") or "").rsplit("/", 1)[-1]
            return f"(audio plays: {name})" if name else "(tones play)"
        if kind == "pause":
            return f"(silence, {event['seconds']} s)"
        if kind == "gather":
            return "(listening for " + ("your answer)" if "speech" in event["input"] else "keys)")
        if kind == "input":
            heard = f'You say "{event["speech"]}"' if "speech" in event else None
            heard = heard or f"You press {event.get('digits', '')}"
            return heard + (" (not heard)" if event.get("ignored") else "")
        if kind == "gather_timeout":
            return "(no answer heard)"
        return self._describe_routing(event)

    def _describe_routing(self, event: dict[str, Any]) -> str | None:
        kind = event["type"]
        if kind == "enqueue":
            return f"On hold in queue {event['queue']!r}."
        if kind == "dequeued" and event["result"] == "redirected":
            return "Taken off hold."
        if kind == "dial":
            return "Lifeline dials " + ", ".join(event["targets"]) + "."
        if kind == "ringing":
            return f"Ringing {event['to']}..."
        if kind == "bridged":
            return f"Connected to {event['to']}."
        if kind == "dial_ended":
            return f"Dialled call over: {event['status']}, {event['duration']} s."
        if kind == "hangup":
            return HANGUPS.get(event["by"], f"Hung up ({event['by']}).")
        if kind == "status" and event["status"] not in {"ringing", "in-progress", "completed"}:
            return f"Call ended: {event['status']}."
        if kind == "error":
            self.errors += 1
            url = str(event.get("url") or "").split("?", 1)[0]
            return f"!! APPLICATION ERROR {event['code']}: {event['message']} ({url or 'no URL'})"
        return None


class _KeyReader(threading.Thread):
    """Interactive mode: every line typed is pressed (digits) or said (words) on the call."""

    def __init__(self, sim_url: str, sid: str, keys: TextIO) -> None:
        super().__init__(
            name="lifeline-call-keys", daemon=True
        )  # stdin reads cannot be interrupted
        self._url = f"{sim_url}/sim/calls/{sid}/input"
        self._keys = keys

    def run(self) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False) as http:
            for raw in self._keys:
                entry = raw.strip()
                if not entry:
                    continue  # an empty line presses nothing
                body = {"digits": entry} if set(entry) <= DTMF_KEYS else {"speech": entry}
                try:
                    http.post(self._url, json=body)
                except httpx.HTTPError:
                    return


def place_call(
    sim_url: str,
    caller: str,
    line: str,
    presses: list[str] | None,
    hold_seconds: float,
    out: TextIO,
    keys: TextIO | None,
) -> int:
    """Ring `line` from `caller`; print the call; 0 normal, 1 application error, 2 unreachable."""
    base = sim_url.rstrip("/")
    transcript = Transcript(out)
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT, trust_env=False) as http:
        try:
            response = http.post(
                "/sim/calls",
                json={
                    "from": caller,
                    "to": line,
                    "inputs": presses or [],
                    "press_after_prompts": True,
                },
            )
        except httpx.TransportError as error:
            transcript.line(f"Cannot reach the phone simulator at {base} ({type(error).__name__}).")
            transcript.line("Is `lifeline-sim phone` running?")
            return EXIT_UNREACHABLE
        if response.status_code != 201:
            transcript.line(f"The phone simulator refused the call: {response.text}")
            return EXIT_UNREACHABLE
        sid = str(response.json()["sid"])
        transcript.line(f"Calling {line} from {caller} (call {sid}).")
        if presses is None and keys is not None:
            transcript.line("Type keys (or words) and Enter at any time; Ctrl-C hangs up.")
            _KeyReader(base, sid, keys).start()
        try:
            _follow(http, sid, transcript, hold_seconds if presses is not None else None)
        except KeyboardInterrupt:
            try:
                http.post(f"/sim/calls/{sid}/hangup")
                _follow(http, sid, transcript, None, deadline=time.monotonic() + DRAIN_SECONDS)
            except (httpx.HTTPError, KeyboardInterrupt):
                pass
        except httpx.HTTPError as error:
            transcript.line(f"Lost the phone simulator at {base} ({type(error).__name__}).")
            return EXIT_UNREACHABLE
    return EXIT_APPLICATION_ERROR if transcript.errors else EXIT_OK


def _follow(
    http: httpx.Client,
    sid: str,
    transcript: Transcript,
    hold_seconds: float | None,
    deadline: float | None = None,
) -> None:
    """Print events until the call ends; once queued, hang up after `hold_seconds` (if given)."""
    after, hang_up_at = -1, None
    while deadline is None or time.monotonic() < deadline:
        wait = POLL_SECONDS
        if hang_up_at is not None:
            wait = max(0.0, min(wait, hang_up_at - time.monotonic()))
        response = http.get(f"/sim/calls/{sid}/events", params={"after": after, "wait": wait})
        response.raise_for_status()
        body = response.json()
        for event in body["events"]:
            after = event["seq"]
            transcript.show(event)
            if event["type"] == "enqueue" and hold_seconds is not None and hang_up_at is None:
                hang_up_at = time.monotonic() + hold_seconds
        if body["ended"]:
            return
        if hang_up_at is not None and time.monotonic() >= hang_up_at:
            hold_seconds = hang_up_at = None
            http.post(f"/sim/calls/{sid}/hangup")
