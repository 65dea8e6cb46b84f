"""The job that moves a handler's leg off a call they are sending on: a REST redirect of that leg
to TwiML that tells them so and hangs up. Twilio then sends the caller's leg to its Dial's action,
where the caller goes on (routing.onward). Idempotent: a leg moved already, or gone, is left."""

from __future__ import annotations

import logging

from config import paths
from routing.models import CallStatus
from workers.runtime import runtime
from workers.telephony import CallGone

log = logging.getLogger(__name__)


async def release_leg(call_sid: str, leg: str, to: str) -> str:
    async with runtime() as rt:
        record = await rt.calls.get(call_sid)
        if record is None or record.status is not CallStatus.CONNECTED:
            return "moved already"  # the caller went on (or hung up) meanwhile
        try:
            await rt.telephony.redirect(leg, rt.settings.public_url(paths.transfer_leg(to)))
        except CallGone:
            # The handler hung up first: the caller's Dial action sends them on all the same.
            return "gone"
        log.info("handler's leg moved off the call", extra={"call_sid": call_sid})
        return "redirected"
