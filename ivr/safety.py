"""What a caller hears when something went wrong: always a route on, the emergency path first."""

from __future__ import annotations

import logging

from ivr.context import Ivr
from ivr.forms import TwilioForm
from ivr.states import Asked, DialResult, Progress
from prompts.catalogue import Locale, PromptId
from routing import menu
from routing.decisions import Decision, Dial, Hold, Leave, Retry, Step, say
from routing.dispatch_line import dispatch_dial
from routing.menu import Given
from routing.models import Priority, Screen
from routing.placing import CannotQueue
from routing.waiting import RETRY_PAUSE_SECONDS

log = logging.getLogger(__name__)


def emergency_dial(
    ivr: Ivr, locale: Locale, call_sid: str, attempt: int = 0, fallback: bool = False
) -> Dial:
    """The dispatch line, needing nothing but the settings."""
    return dispatch_dial(
        ivr.settings.ambulance_dispatch_number, locale, call_sid, attempt, fallback
    )


def unqueued(
    ivr: Ivr, call_sid: str, failed: CannotQueue, turn: int = 0, down_since: int = 0
) -> Decision:
    """A call that could not be queued: an emergency to the dispatch line, anyone else to the
    safe route with the answers they gave."""
    log.warning("cannot queue: %s", failed, extra={"call_sid": call_sid})
    if failed.emergency:
        return emergency_dial(ivr, failed.answers.language, call_sid)
    return safe_route(ivr, Progress(answers=failed.answers, turn=turn, down_since=down_since))


def emergency_answered(ivr: Ivr, state: Progress, given: Given, call_sid: str) -> Dial | None:
    """A "yes" to the emergency question whose webhook failed or ran out of time: still the
    dispatch line, needing nothing but the settings (never the question again)."""
    if menu.choice(Step.EMERGENCY, given) != Screen.YES:
        return None
    log.warning("emergency answer not handled: dialling dispatch", extra={"call_sid": call_sid})
    return emergency_dial(ivr, state.language, call_sid)


def screen_answered(ivr: Ivr, state: Asked, given: Given, call_sid: str) -> Dial | None:
    """`emergency_answered`, for the IVR's questions: only the emergency screen's answer."""
    if state.step != Step.EMERGENCY.value:
        return None
    return emergency_answered(ivr, state, given, call_sid)


def emergency_on_the_way(ivr: Ivr, state: Progress, given: Given, call_sid: str) -> Dial | None:
    """A request about a priority-1 caller (its URL says so) that failed: the dispatch line."""
    if state.priority is not Priority.EMERGENCY:
        return None
    log.warning("emergency's request not handled: dialling dispatch", extra={"call_sid": call_sid})
    return emergency_dial(ivr, state.language, call_sid)


def safe_step(ivr: Ivr, state: Asked) -> Decision:
    """An IVR question's answer that failed: the safe route; but the callback offer is asked
    inside the queue's wait loop, where Twilio runs only wait-loop verbs: its safe answer is the
    wait loop's."""
    if state.step == Step.CALLBACK_OFFER.value:
        return safe_hold(ivr, state)
    return safe_route(ivr, state)


def safe_route(ivr: Ivr, state: Progress) -> Decision:
    """After a failure we cannot place (Redis unreachable, most often): say plainly what is
    happening, the emergency key live, and retry; once this caller has been without Lifeline for
    FALLBACK_LINE_AFTER_MINUTES, put them through to the fallback line, if there is one. How long
    is carried in the signed URL (`down_since`), so it needs no Redis."""
    locale = state.language
    answers = state.answers.model_copy(update={"locale": locale})
    now = int(ivr.floor.clock.now())
    down_since = state.down_since or now
    line = ivr.settings.fallback_line_number
    if line and now - down_since >= ivr.settings.fallback_line_after_minutes * 60:
        return Dial(
            locale=locale,
            number=line,
            say=say(PromptId.FALLBACK_LINE),
            purpose="fallback_line",
            answers=answers,
        )
    # A caller who has not been asked the emergency screen yet hears it whole.
    unscreened = answers.screen is None
    return Retry(
        locale=locale,
        answers=answers,
        say=say(PromptId.SYSTEM_PROBLEM),
        emergency=PromptId.EMERGENCY_SCREEN if unscreened else PromptId.SYSTEM_PROBLEM_HELP,
        pause_seconds=RETRY_PAUSE_SECONDS,
        turn=state.turn,
        down_since=down_since,
    )


def safe_dispatch(ivr: Ivr, state: DialResult) -> Decision:
    """The dispatch line's result could not be handled: put the emergency through again."""
    return emergency_dial(ivr, state.language, "", state.attempt + 1)


def safe_hold(ivr: Ivr, state: Progress) -> Decision:
    """Inside the queue's wait loop only wait-loop verbs are allowed: hold on and come back. An
    emergency leaves the queue, whose exit puts them through to the dispatch line."""
    if state.priority is Priority.EMERGENCY:
        return Leave()
    return Hold(
        locale=state.language,
        priority=state.priority or Priority.STANDARD,
        say=say(PromptId.HOLD_ON),
        pause_seconds=RETRY_PAUSE_SECONDS,
        turn=state.turn,
    )


def ids(form: TwilioForm) -> dict[str, str]:
    return {"call_sid": form.call_sid}
