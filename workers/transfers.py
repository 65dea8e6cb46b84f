"""Jobs for sending a caller on (routing.onward): move the handler's leg off the call (or into a
warm transfer's room), move the caller's leg out of the room, ring the dispatch line or a
clinician into it, and end a call no longer needed. Each looks at the call first, so that one run
late or twice changes nothing; placing a call is tried once (a second try could ring twice)."""

from __future__ import annotations

import asyncio
import logging
import time

from config import paths
from routing import connecting, onward
from routing.floor import Floor
from routing.models import CallStatus
from routing.offers import Release
from routing.rules import default_rules
from workers.runtime import Runtime, enqueuing, runtime
from workers.telephony import CallGone, TelephonyError

log = logging.getLogger(__name__)


async def release_leg(
    call_sid: str, leg: str, to: str, warm: bool = False, handler: str = ""
) -> str:
    """Then watches the caller go on: if their Dial action has not taken them on within
    `WATCH_SECONDS` (it failed, Redis unreachable say), their own leg is moved."""
    async with runtime() as rt:
        record = await rt.calls.get(call_sid)
        if record is None:
            return "no call"
        in_room = bool(await rt.transfers.in_room(call_sid))
        if record.status is not CallStatus.CONNECTED and not (warm and in_room):
            return "moved already"  # the caller went on (or hung up) meanwhile
        url = rt.settings.public_url(paths.transfer_leg(to, warm, call_sid, handler))
        if warm:
            await rt.transfers.moving(call_sid, leg_moving=True)
        try:
            await rt.telephony.redirect(leg, url)
        except CallGone:
            # The handler hung up first: the caller's Dial action sends them on all the same,
            # without the room, or, in it already, they go on without the handler.
            if warm:
                await _handler_gone(rt, call_sid, handler)
            return "gone"
        except TelephonyError:
            if warm:
                await rt.transfers.moving(call_sid, leg_moving=False)  # not coming, for now
            raise
        log.info("handler's leg moved", extra={"call_sid": call_sid})
        return await _watch(rt, call_sid, to)


WATCH_SECONDS = 8.0  # the caller's Dial action comes within a second when all is well
WATCH_EVERY = 0.25


async def _watch(rt: Runtime, call_sid: str, to: str) -> str:
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        if await rt.transfers.status(call_sid) != CallStatus.CONNECTED:
            return "redirected"
        await asyncio.sleep(WATCH_EVERY)
    log.warning("caller not taken on by their Dial action: moved", extra={"call_sid": call_sid})
    path = paths.TO_DISPATCH if to == "dispatch" else paths.TO_QUEUE
    await _redirect_quietly(rt, call_sid, paths.with_call(path, call_sid))
    return "caller moved"


async def _handler_gone(rt: Runtime, call_sid: str, handler: str) -> None:
    async with enqueuing(rt) as jobs:
        floor = Floor.of(rt.redis, rt.clock, rt.settings, default_rules(), jobs)
        if await onward.handler_gone(floor, call_sid, handler) == "cold":
            # The Dial action may have read the request as warm just before: look again.
            await asyncio.sleep(1.0)
            await onward.handler_gone(floor, call_sid, handler)


async def redirect_call(call_sid: str, path: str, only_if: str = "") -> str:
    async with runtime() as rt:
        if only_if and await rt.transfers.status(call_sid) != only_if:
            return "not moved"  # offered to someone meanwhile, or gone
        try:
            await rt.telephony.redirect(call_sid, rt.settings.public_url(path))
        except CallGone:
            return "gone"
        return "redirected"


async def hang_up(call_sid: str) -> str:
    async with runtime() as rt:
        await rt.telephony.hang_up(call_sid)
        return "ended"


async def dial_dispatcher(call_sid: str) -> str:
    """The dispatch line, rung into the room of a warm transfer; its TwiML reads the case id
    before it joins. If it cannot be rung, the caller goes on by a plain dial at once."""
    async with runtime() as rt:
        record = await rt.calls.get(call_sid)
        if record is None or record.status is not CallStatus.DISPATCHED:
            return "not needed"
        if not await rt.transfers.in_room(call_sid):
            return "not needed"
        settings = rt.settings
        try:
            placed = await rt.telephony.place(
                to=settings.ambulance_dispatch_number,
                from_=record.line,
                url=settings.public_url(paths.with_call(paths.DISPATCHER, call_sid)),
                status_callback=settings.public_url(
                    paths.with_call(paths.DISPATCHER_STATUS, call_sid)
                ),
                machine_detection=False,
            )
        except TelephonyError as error:
            log.warning("dispatcher's leg not placed (%s): a plain dial", error)
            if await rt.transfers.dispatcher(call_sid, joined=False, now=rt.clock.now()):
                await _redirect_quietly(rt, call_sid, paths.with_call(paths.TO_DISPATCH, call_sid))
            return "plain dial"
        await rt.transfers.keep_leg(call_sid, "dispatcher_leg", placed.sid)
        return "ringing"


async def ring_into_room(rt: Runtime, member: str, handler_id: str, offer: int, room: str) -> str:
    """The connect of a caller waiting in a warm transfer's room: their clinician is rung into
    it (the handler who sent them on introduces the case). Not rung, the offer is released and
    the caller is offered to the next, in their place."""
    handler = await rt.handlers.get(handler_id)
    rules = await rt.rulebook.active()
    now = rt.clock.now()
    why = connecting.phone_refused(handler, rt.settings.policy_exceptions)
    if why:
        ids = {"call_sid": member}
        await rt.offers.phone_refused(member, handler, offer, why, now, rules, ids)
        return "phone refused"
    device = handler.profile.device
    to = f"client:{device.address}" if device.kind == "client" else device.address
    record = await rt.calls.get(member)
    line = record.line if record else ""
    try:
        leg = await rt.telephony.add_participant(
            room,
            from_=line,
            to=to,
            label="clinician",
            status_callback=rt.settings.public_url(
                paths.clinician_status(member, handler_id, offer)
            ),
            ring_seconds=rules.offers.offer_timeout_seconds,
        )
    except TelephonyError as error:
        log.warning("clinician not rung into the room: %s", error, extra={"call_sid": member})
        await rt.offers.release(member, handler_id, offer, now, Release.FAILED, rules)
        return "not rung"
    await rt.transfers.keep_leg(member, "clinician_leg", leg)
    log.info("clinician rung into the room", extra={"call_sid": member, "handler": handler_id})
    return "ringing into the room"


async def _redirect_quietly(rt: Runtime, call_sid: str, path: str) -> None:
    try:
        await rt.telephony.redirect(call_sid, rt.settings.public_url(path))
    except TelephonyError as error:
        log.warning("caller not moved out of the room: %s", error, extra={"call_sid": call_sid})
