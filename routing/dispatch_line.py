"""The ambulance dispatch line as a decision: the number dialled, with the case id read to the
dispatcher (derived from the CallSid, so it needs no Redis)."""

from __future__ import annotations

import re

from prompts.catalogue import Locale, PromptId
from routing.decisions import Dial, say
from routing.models import case_id_for

SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


def dispatch_dial(
    number: str, locale: Locale, call_sid: str, attempt: int = 0, fallback: bool = False
) -> Dial:
    """The dispatch line at `number`; a CallSid that is not one gives no case id."""
    return Dial(
        locale=locale,
        number=number,
        say=say(PromptId.AMBULANCE_CONNECTING),
        attempt=attempt,
        fallback=fallback,
        case_id=case_id_for(call_sid) if SID.match(call_sid) else "",
    )
