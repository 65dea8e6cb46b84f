"""Fetching TwiML for a leg (standard parameters, content type, parsing) and fire-and-forget
requests whose answers Twilio ignores."""

from __future__ import annotations

from sim.phone.errors import INVALID_CONTENT_TYPE, CallError
from sim.phone.leg import Leg
from sim.phone.runtime import Runtime
from sim.phone.steps import Fetch, Inline, Step
from sim.phone.twiml import parse_twiml
from sim.phone.verbs import Context, Document

TWIML_MEDIA_TYPES = frozenset({"text/xml", "application/xml", "text/html"})


def step_kind(step: Step) -> str:
    return step.kind if isinstance(step, Fetch) else "twiml"


async def fetch_document(leg: Leg, rt: Runtime, step: Step, context: Context) -> Document:
    if isinstance(step, Inline):
        return parse_twiml(step.twiml.encode(), None, context)
    params = {**leg.standard_params(), **step.params}
    reply = await rt.webhooks.request(leg.log, step.url, step.method, params, step.kind)
    media_type = reply.content_type.split(";")[0].strip().lower()
    if media_type not in TWIML_MEDIA_TYPES:
        raise CallError(
            INVALID_CONTENT_TYPE,
            f"Invalid Content-Type {media_type or '(none)'!r}: TwiML must be text/xml or "
            "application/xml (the sim does not play audio responses)",
            reply.url,
        )
    return parse_twiml(reply.body, reply.url, context)


async def request_ignoring_reply(leg: Leg, rt: Runtime, fetch: Fetch) -> None:
    """A request made after the fact (e.g. QueueResult=hangup): only failures are recorded."""
    params = {**leg.standard_params(), **fetch.params}
    try:
        await rt.webhooks.request(leg.log, fetch.url, fetch.method, params, fetch.kind)
    except CallError as error:
        leg.record_error(error, fetch.kind)
