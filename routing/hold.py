"""The hold loop: what a queued caller hears each turn, and when an emergency stops waiting."""

from __future__ import annotations

import math

from prompts.catalogue import PromptId
from routing.decisions import Hold, Leave, Spoken, Step, say
from routing.menu import ask
from routing.models import Answers, CallRecord, Priority
from routing.rules import RuleSet


def estimated_wait(position: int, on_duty: int, average_handle_seconds: int) -> float | None:
    """Seconds until a caller at `position` is answered. A caller waits only while every handler
    is busy, and handlers free up at `on_duty` per average handle time, so the wait is about
    position x handle time / handlers. None: nobody is on duty, so there is no estimate."""
    if on_duty <= 0:
        return None
    return position * average_handle_seconds / on_duty


def wait_prompts(position: int, wait: float | None) -> tuple[Spoken, ...]:
    if wait is None:
        return say(PromptId.WAIT_UNKNOWN)
    spoken = (Spoken.of(PromptId.POSITION, position=position),)
    minutes = math.ceil(wait / 60)
    if minutes < 1:
        return (*spoken, Spoken(prompt=PromptId.WAIT_UNDER_MINUTE))
    if minutes == 1:
        return (*spoken, Spoken(prompt=PromptId.WAIT_ONE_MINUTE))
    return (*spoken, Spoken.of(PromptId.WAIT_ESTIMATE, minutes=minutes))


def emergency_deadline(record: CallRecord, rules: RuleSet) -> float:
    """When a queued emergency stops waiting for a handler and goes to the dispatch line
    (counted again from a failed attempt to reach that line)."""
    start = max(record.arrival or record.created, record.dispatch_tried or 0.0)
    return start + rules.emergency.handler_limit_seconds


def emergency_overdue(record: CallRecord, rules: RuleSet, now: float) -> bool:
    """An emergency past its limit for reaching a handler: it goes to the dispatch line."""
    placement = record.placement
    return (
        placement is not None
        and placement.priority is Priority.EMERGENCY
        and now >= emergency_deadline(record, rules)
    )


def hold_turn(
    record: CallRecord,
    position: int,
    on_duty: int,
    rules: RuleSet,
    now: float,
    turn: int,
    dispatch_now: bool = False,
) -> Hold | Leave:
    """One turn of the hold loop for a queued call. `dispatch_now`: an emergency goes to the
    dispatch line without waiting out its limit (nobody free who could take it)."""
    placement = record.placement
    assert placement is not None, "only queued calls hold"
    locale = record.locale
    if placement.priority is Priority.EMERGENCY:
        remaining = emergency_deadline(record, rules) - now
        if remaining <= 0 or dispatch_now:
            return Leave()
        # Never silent, and looked at again every few seconds (it may need the dispatch line).
        return Hold(
            locale=locale,
            priority=placement.priority,
            say=say(PromptId.EMERGENCY_STAY),
            pause_seconds=min(math.ceil(remaining), rules.emergency.reassure_every_seconds),
            turn=turn,
        )
    wait = estimated_wait(position, on_duty, rules.hold.average_handle_seconds)
    spoken = wait_prompts(position, wait)
    if turn % rules.hold.safety_net_every == 0:
        spoken = (*spoken, Spoken(prompt=PromptId.SAFETY_NET))
    offer = None
    if wait is None or wait > rules.hold.callback_offer_over_seconds:
        offer = ask(Step.CALLBACK_OFFER, record.answers or Answers(locale=locale), locale)
    return Hold(
        locale=locale,
        priority=placement.priority,
        say=spoken,
        offer=offer,
        pause_seconds=rules.hold.pause_seconds,
        turn=turn,
    )
