"""Rule sets through the API, as their size goes: refused over a limit with a 422 that names it,
and checked in a thread of the rule book's own, so an emergency caller never waits on a check."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from console.tokens import Role
from tests.conftest import CALLER, DISPATCH, MAIN_LINE
from tests.console.test_api import Api, token_for
from tests.ivr.test_call_flow import to_queue
from tests.routing.test_rule_checks import at_the_limits, one_more_timed_route
from tests.twilio import TwilioClient

WAIT = 60.0  # only if something is broken: nothing here waits on the machine's speed


class HeldCheck(logging.Handler):
    """Holds the check of a rule set at its last step (the record of what it took), in the
    thread that ran it, until released; and notes that thread."""

    def __init__(self) -> None:
        super().__init__()
        self.reached, self.go_on = threading.Event(), threading.Event()
        self.thread = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() != "rule set checked":
            return
        self.thread = record.threadName or ""
        self.reached.set()
        if self.thread.startswith("rule-check"):  # never hold an event loop: it would hang
            self.go_on.wait(WAIT)


@pytest.fixture
def held(caplog: pytest.LogCaptureFixture) -> Iterator[HeldCheck]:
    caplog.set_level(logging.INFO, logger="routing.rulebook")
    handler = HeldCheck()
    logger = logging.getLogger("routing.rulebook")
    logger.addHandler(handler)
    yield handler
    handler.go_on.set()
    logger.removeHandler(handler)


def test_an_emergency_is_put_through_while_a_large_rule_set_is_being_checked(
    twilio: TwilioClient, redis_url: str, held: HeldCheck
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    body = {"document": json.dumps(at_the_limits()), "comment": "every limit"}
    answers: list[httpx.Response] = []
    creating = threading.Thread(
        target=lambda: answers.append(
            api.client.post("/api/v1/rules/versions", json=body, headers=api.headers)
        )
    )
    creating.start()
    try:
        assert held.reached.wait(WAIT)
        assert held.thread.startswith("rule-check_")  # not the event loop's, nor a shared pool's
        twiml = to_queue(twilio.call(CALLER, MAIN_LINE), "1")
        assert twiml.verbs == ["Say", "Dial"]
        assert twiml.first("Number").text == DISPATCH
        assert not answers  # the check is still held
    finally:
        held.go_on.set()
        creating.join(WAIT)
    [created] = answers
    assert created.status_code == 201, created.text
    assert api.get(f"/api/v1/rules/versions/{created.json()['number']}")["comment"] == "every limit"


def test_a_rule_set_over_a_limit_is_refused_with_a_422_naming_the_limit_and_its_path(
    twilio: TwilioClient, redis_url: str
) -> None:
    api = Api(twilio.client, token_for(redis_url, Role.SUPERVISOR))
    rules = at_the_limits()
    one_more_timed_route(rules)
    for body in ({"rules": rules}, {"document": json.dumps(rules)}):
        refused = api.send("POST", "/api/v1/rules/versions", body, status=422)
        assert refused == {
            "error": "the rule set is invalid",
            "problems": [
                "routes.51.when.during: more than 50 timed routes; a rule set may have at most 50"
            ],
        }
    big = api.send("POST", "/api/v1/rules/versions", {"document": "#" * 70_000}, status=422)
    assert big["problems"] == ["document: 68.4 KiB of text; a rule set may have at most 64 KiB"]
    assert [version["number"] for version in api.get("/api/v1/rules/versions")] == [1]
