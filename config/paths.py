"""The webhook paths that jobs point Twilio at (answered by `ivr`): one contract, one place."""

from __future__ import annotations

from urllib.parse import urlencode

CONNECT = "/twilio/connect"  # a reserved caller is redirected here, to be put through
CALLBACK_ANSWER = "/twilio/callback/answer"  # the first leg of a callback was answered
CALLBACK_STATUS = "/twilio/callback/status"  # status callbacks of a callback's first leg
TRANSFER_LEG = "/twilio/transfer/handler-leg"  # a handler's leg moved off a call sent on
# A warm transfer's other steps (routing.onward): the caller's leg moved out of the room to the
# clinicians' queue or to a plain dial of the dispatch line; the clinician's participant call's
# status callbacks; the dispatcher's leg (its TwiML reads the case id) and its status callbacks.
TO_QUEUE = "/twilio/transfer/to-queue"
TO_DISPATCH = "/twilio/transfer/to-dispatch"
CLINICIAN_STATUS = "/twilio/transfer/clinician-status"
DISPATCHER = "/twilio/transfer/dispatcher"
DISPATCHER_STATUS = "/twilio/transfer/dispatcher-status"


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


def transfer_leg(to: str, warm: bool = False, call: str = "", handler: str = "") -> str:
    """The handler's leg, told the caller is on their way; or, warm, into the room with them."""
    if not warm:
        return f"{TRANSFER_LEG}?{urlencode({'to': to})}"
    return f"{TRANSFER_LEG}?{urlencode({'to': to, 'warm': 1, 'call': call, 'handler': handler})}"


def clinician_status(call: str, handler: str, offer: int) -> str:
    return f"{CLINICIAN_STATUS}?{urlencode({'call': call, 'handler': handler, 'offer': offer})}"


def with_call(path: str, call: str) -> str:
    return f"{path}?{urlencode({'call': call})}"
