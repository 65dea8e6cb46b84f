"""The webhook paths that jobs point Twilio at (answered by `ivr`): one contract, one place."""

from __future__ import annotations

from urllib.parse import urlencode

CONNECT = "/twilio/connect"  # a reserved caller is redirected here, to be put through
CALLBACK_ANSWER = "/twilio/callback/answer"  # the first leg of a callback was answered
CALLBACK_STATUS = "/twilio/callback/status"  # status callbacks of a callback's first leg
TRANSFER_LEG = "/twilio/transfer/handler-leg"  # a handler's leg moved off a call sent on


def connect(handler: str, offer: int, priority: int = 0, locale: str = "") -> str:
    """With the caller's priority and language, so that an emergency whose connect fails is put
    through to the dispatch line, in their language, needing nothing else."""
    query: dict[str, str | int] = {"handler": handler, "offer": offer}
    if priority:
        query["priority"] = priority
    if locale:
        query["locale"] = locale
    return f"{CONNECT}?{urlencode(query)}"


def callback(path: str, callback_id: str, handler: str, offer: int, leg: str) -> str:
    query = urlencode({"cb": callback_id, "handler": handler, "offer": offer, "leg": leg})
    return f"{path}?{query}"


def transfer_leg(to: str) -> str:
    return f"{TRANSFER_LEG}?{urlencode({'to': to})}"
