"""Each URL Lifeline writes reads back, through its route's state model, as what was put in it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from config import paths
from ivr import urls
from ivr.states import (
    Asked,
    CallbackLeg,
    DialResult,
    DispatchWhisper,
    Offered,
    Progress,
    State,
    Whispered,
    reader,
)
from prompts.catalogue import Locale
from routing.decisions import Step
from routing.models import Answers, Priority, Reason, Screen

BUILD = urls.Urls("https://lifeline.example")
ANSWERS = Answers(locale=Locale.CY, screen=Screen.NO, reason=Reason.DENTAL, repeat=True)


def read(model: type[State], url: str, step: str = "") -> State:
    return reader(model)(urlsplit(url).query.encode("latin-1"), step)


@pytest.mark.parametrize(
    ("model", "url", "step", "expected"),
    [
        (
            Asked,
            BUILD.step(Step.REASON, ANSWERS, attempt=2),
            Step.REASON.value,
            Asked(answers=ANSWERS, step=Step.REASON.value, attempt=2),
        ),
        (Progress, BUILD.resume(ANSWERS, turn=3), "", Progress(answers=ANSWERS, turn=3)),
        (
            Progress,
            BUILD.retry(ANSWERS, turn=1, down_since=100),
            "",
            Progress(answers=ANSWERS, turn=1, down_since=100),
        ),
        (
            Progress,
            BUILD.hold(Locale.CY, Priority.URGENT, turn=4, down_since=7),
            "",
            Progress(
                answers=Answers(locale=Locale.CY), priority=Priority.URGENT, turn=4, down_since=7
            ),
        ),
        (
            DialResult,
            BUILD.dispatch_result(attempt=1, purpose="overflow", locale=Locale.CY),
            "",
            DialResult(answers=Answers(locale=Locale.CY), attempt=1, purpose="overflow"),
        ),
        (
            Offered,
            BUILD.base + paths.connect("h1", 2, int(Priority.EMERGENCY), Locale.CY.value),
            "",
            Offered(
                answers=Answers(locale=Locale.CY),
                priority=Priority.EMERGENCY,
                handler="h1",
                offer=2,
            ),
        ),
        (
            Offered,
            BUILD.connect_result("h1", 2, Locale.EN, Priority.STANDARD),
            "",
            Offered(
                answers=Answers(locale=Locale.EN),
                priority=Priority.STANDARD,
                handler="h1",
                offer=2,
            ),
        ),
        (
            Whispered,
            BUILD.whisper("CA1", "h1", 2),
            "",
            Whispered(call="CA1", handler="h1", offer=2),
        ),
        (
            CallbackLeg,
            BUILD.callback(urls.CALLBACK_GREET, "cb1", "h1", 2, "handler"),
            "",
            CallbackLeg(cb="cb1", handler="h1", offer=2, leg="handler"),
        ),
        (DispatchWhisper, BUILD.dispatch_whisper("R2D2"), "", DispatchWhisper(case="R2D2")),
        (
            Asked,
            BUILD.fallback(Step.EMERGENCY.value, Locale.CY),
            "",
            Asked(answers=Answers(locale=Locale.CY), step=Step.EMERGENCY.value),
        ),
    ],
)
def test_a_url_we_write_reads_back_as_the_state_put_in_it(
    model: type[State], url: str, step: str, expected: State
) -> None:
    assert read(model, url, step) == expected


def test_a_query_we_did_not_write_starts_afresh() -> None:
    assert read(Offered, f"{urls.CONNECT}?handler=h1&offer=2&locale=klingon") == Offered()
