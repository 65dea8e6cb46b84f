"""The outage drill's judgements, from the events a caller's leg recorded in the phone network."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

from config.settings import Settings
from console.tokens import Tokens
from lifeline.drill import MAIN_LINE, caller_numbers, callers, supervisor_token, switch_timeout
from lifeline.drill_report import Caller, DrillReport, PlacedCall, Routed, heard, routed, settled
from tests.conftest import DISPATCH, WELSH_LINE, make_settings

EMERGENCY = Caller("emergency", MAIN_LINE, ("1",), emergency=True)
MEDICAL = Caller("medical", MAIN_LINE, ("2", "1"))
CALLBACK = Caller("callback", MAIN_LINE, ("2", "1", "1", "1"), takes_callback=True)


def events(*types: str, targets: tuple[str, ...] = (DISPATCH,)) -> list[dict[str, Any]]:
    return [
        {"type": kind, "targets": list(targets)} if kind == "dial" else {"type": kind}
        for kind in types
    ]


@pytest.mark.parametrize(
    ("leg", "booked", "expected"),
    [
        (events("gather", "dial"), False, Routed.DISPATCH_AT_ONCE),
        (events("gather", "enqueue", "dial"), False, Routed.DISPATCH_FROM_QUEUE),
        (events("enqueue", "dial", targets=("client:h1",)), False, Routed.HANDLER),
        (events("gather", "enqueue"), False, Routed.QUEUED),
        (events("gather", "enqueue", "leave", "hangup"), True, Routed.CALLBACK),
        (events("gather", "gather_timeout", "hangup"), False, Routed.NOWHERE),
    ],
)
def test_how_a_call_was_routed_is_read_from_its_leg(
    leg: list[dict[str, Any]], booked: bool, expected: Routed
) -> None:
    assert routed(leg, DISPATCH, booked) is expected


@pytest.mark.parametrize(
    ("caller", "leg", "ended", "expected"),
    [
        (MEDICAL, events("gather"), False, False),
        (MEDICAL, events("gather", "enqueue"), False, True),
        (EMERGENCY, events("gather", "enqueue"), False, False),  # waits to be put through
        (EMERGENCY, events("gather", "dial"), False, True),
        (CALLBACK, events("gather", "enqueue"), False, False),  # waits for the offer
        (CALLBACK, events("gather", "enqueue", "leave"), True, True),
    ],
)
def test_the_drill_waits_for_each_kind_of_call_to_go_as_far_as_it_can(
    caller: Caller, leg: list[dict[str, Any]], ended: bool, expected: bool
) -> None:
    assert settled(caller, {"events": leg, "ended": ended}) is expected


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (PlacedCall(EMERGENCY, "CA1", False, Routed.DISPATCH_AT_ONCE), ""),
        (
            PlacedCall(EMERGENCY, "CA1", False, Routed.HANDLER),
            "expected the dispatch line at once: no handler was free",
        ),
        (PlacedCall(EMERGENCY, "CA1", True, Routed.HANDLER), ""),
        (
            PlacedCall(EMERGENCY, "CA1", True, Routed.QUEUED),
            "expected a handler or the dispatch line",
        ),
        (PlacedCall(MEDICAL, "CA2", False, Routed.QUEUED, heard_message=True), ""),
        (
            PlacedCall(MEDICAL, "CA2", False, Routed.QUEUED),
            "did not hear the outage message",
        ),
        (PlacedCall(MEDICAL, "CA2", False, Routed.NOWHERE, heard_message=True), "not routed"),
        (
            PlacedCall(MEDICAL, "CA2", False, Routed.QUEUED, heard_message=True, errors=1),
            "1 application error(s)",
        ),
    ],
)
def test_a_call_not_routed_as_a_degraded_line_should_is_named_with_what_went_wrong(
    call: PlacedCall, problem: str
) -> None:
    assert call.problem() == problem
    assert call.line().endswith(f" ({problem})") is bool(problem)


def test_the_outage_message_counts_as_heard_whatever_the_line_breaks() -> None:
    message = "Some of our systems are affected.\nWe will still help you."
    leg = [
        {"type": "say", "text": "Some of our systems are affected. We will  still help you."},
        {"type": "gather"},
    ]
    assert heard(leg, message)
    assert not heard(leg[1:], message)


def test_a_welsh_speaker_rings_the_welsh_line_only_where_there_is_one(settings: Settings) -> None:
    kinds = [caller.kind for caller in callers(settings)]
    assert kinds[0] == "emergency"
    assert "callback" in kinds
    assert [caller.line for caller in callers(settings) if caller.welsh] == [WELSH_LINE]
    no_welsh = make_settings(str(settings.redis_url), welsh_line_numbers=())
    assert not any(caller.welsh for caller in callers(no_welsh))


def test_every_caller_has_a_number_of_their_own() -> None:
    numbers = caller_numbers(9)
    assert len(set(numbers)) == 9
    assert all(number.startswith("+4477009") and len(number) == 13 for number in numbers)


def test_the_switch_is_given_twice_the_probes_it_takes_and_a_margin(settings: Settings) -> None:
    # three failed probes, two seconds apart by default
    assert switch_timeout(settings) == 2 * 3 * 2 + 10


def test_a_report_of_nothing_observed_says_nothing_was_reached() -> None:
    lines = DrillReport(asked_seconds=60).lines()
    assert "  time to degraded mode        not reached" in lines
    assert "  calls placed while degraded  0" in lines
    assert "  journal entries captured     0" in lines
    assert "  still pending                0 (unknown in the whole journal)" in lines


@pytest.mark.anyio
async def test_the_drills_token_lasts_the_drill_and_little_more_so_a_killed_drill_leaves_none(
    settings: Settings, aredis: redis.asyncio.Redis
) -> None:
    """Revoked when the drill ends; should the drill be killed first, it expires of itself soon
    after the drill would have ended, never 90 days later."""
    minutes = 2.0
    async with supervisor_token(settings, minutes) as token:
        [info] = await Tokens(aredis).all()
        lasts = info.expires - info.created
        assert await Tokens(aredis).verify(token, info.created + lasts - 1) is not None
        assert await Tokens(aredis).verify(token, info.created + lasts) is None
    longest = 60 * minutes + switch_timeout(settings) + 120 + 30 + 300 + 600  # each wait, in full
    assert longest <= lasts <= longest + 3600
    assert await Tokens(aredis).all() == []
