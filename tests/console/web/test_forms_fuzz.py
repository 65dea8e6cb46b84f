"""The consoles' forms, as a property: whatever fields a signed-in admin posts to any console
form (real names with odd values, unknown names, odd ids in the path), the answer is never a
server error, and a refusal is a page that says what was wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.routing import Route, compile_path

from console.convertors import VERSION
from console.tokens import Role
from console.web import login
from console.web.accounts import NewUser
from console.web.booking import ChosenSlot
from console.web.callbacks import Cancel, Reprioritise
from console.web.floor import TakeOff
from console.web.handler_console import BreakReason, StateChange, WrapUpForm
from console.web.login import SignIn
from console.web.mode import MessageChange, ModeChange
from console.web.onward import ClinicianCallbackForm, SendOnForm
from console.web.ruleset import Activation, Draft
from console.web.steps import CodeForm
from console.web.what_if import WhatIfForm
from routing.clock import VirtualClock
from routing.mode import MESSAGE_MAX
from routing.rulebook import canonical
from routing.rules import default_rules
from routing.wrapup import WrapUpOutcome
from tests.console.web.conftest import People
from tests.console.web.people import BASE, PASSWORD, Person, add_user
from tests.console.web.test_callbacks_pages import book_callback, unreachable_then_more_booked
from tests.console.web.test_csrf_and_roles import POSTS
from tests.staff import Staff

SIGN_IN, SIGN_OUT = "/login", "/logout"  # outside VIEWS: their own routes, the same care
CODE_STEP, ENROL_STEP, SECOND_FACTOR = "/login/code", "/login/enrol", "/console/second-factor"
# Each form's model, for its field names (None: a form of nothing but its CSRF token).
MODELS: dict[str, type[BaseModel] | None] = {
    "/console/handler/state": StateChange,
    "/console/handler/wrap-up": WrapUpForm,
    "/console/handler/booking/search": None,
    "/console/handler/booking": ChosenSlot,
    "/console/handler/send-on": SendOnForm,
    "/console/handler/clinician-callback": ClinicianCallbackForm,
    "/console/handler/heartbeat": None,
    "/console/handlers/{handler_id}/offline": TakeOff,
    "/console/callbacks/{callback_id}/cancel": Cancel,
    "/console/callbacks/{callback_id}/priority": Reprioritise,
    "/console/rules/edit": Draft,
    f"/console/rules/versions/{VERSION}/activate": Activation,
    f"/console/rules/versions/{VERSION}/simulate": WhatIfForm,
    "/console/mode": ModeChange,
    "/console/mode/message": MessageChange,
    "/console/journal/reconcile": None,
    "/console/accounts": NewUser,
    "/console/accounts/{username}/disable": None,
    "/console/tokens/{token_id}/revoke": None,
    SIGN_IN: SignIn,
    SIGN_OUT: None,
    CODE_STEP: CodeForm,
    ENROL_STEP: CodeForm,
    SECOND_FACTOR: CodeForm,
}

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


def near(valid: Iterable[str], odd: Iterable[str] = ("",)) -> st.SearchStrategy[str]:
    """A valid value half the time, else one nearly right, or anything at all."""
    good, bad = st.sampled_from([str(value) for value in valid]), st.sampled_from(list(odd))
    return st.one_of(good, good, bad, text)


DOCUMENT = canonical(default_rules())


@st.composite
def documents(draw: st.DrawFn) -> str:
    """The rule set as YAML, with a slice of it replaced by something else."""
    start = draw(st.integers(0, len(DOCUMENT)))
    cut = draw(st.integers(0, 60))
    return DOCUMENT[:start] + draw(text) + DOCUMENT[start + cut :]


LONG = ["x" * 81, "x" * 501, "x" * (MESSAGE_MAX + 1), "x" * 4001]
VALUES: dict[str, st.SearchStrategy[str]] = {
    "state": near(["available", "break", "offline"], ["", "busy", " available", "Break"]),
    "reason": near([*BreakReason, "frail"], ["", " ", *LONG]),
    "outcome": near(WrapUpOutcome, ["", "booked"]),
    "slot": near(["Slot/dental-0930"], ["", "Slot/", "Slot/a b", "Practitioner/1"]),
    "notes": near(["", "advised rest"], LONG),
    "to": near(["dispatch", "clinician"], ["", "Dispatch", "handler"]),
    "urgency": near(["immediate", "within_hour"], ["", "whenever", "x" * 33]),
    "warm": near(["on", ""], ["maybe"]),
    "number": near(["07700900555", ""], ["09098790000", "+1 202 555 0100", "x" * 21]),
    "priority": near(["2", "3", "4", "5"], ["", "1", "0", "6", "-1", "2.0", " 3", "\uff13"]),
    "mode": near(["normal", "degraded", "auto"], ["", "DEGRADED"]),
    "en": near(["Our systems are down."], ["", " ", *LONG]),
    "cy": near(["Mae ein systemau i lawr."], ["", *LONG]),
    "document": st.one_of(documents(), near([DOCUMENT], ["", "{}", "[]", "routes: 3"])),
    "comment": near(["", "tidy"], LONG),
    "action": near(["check", "save"], [""]),
    "username": near(["new.one", "nu"], ["", "ada", "sam", "NEW", "a", "x" * 33]),
    "name": near(["New One"], ["", "x" * 81]),
    "role": near(Role, ["", "root"]),
    "handler": near(["", "h1", "h2", "h9"], ["H1", "-x"]),
    "password": near([PASSWORD], ["", "short", "x" * 257]),
    "next": near(["/console/mode", ""], ["//evil.example", "https://evil.example/"]),
    "code": near(["123456", "abcd-efgh-jkmn-pqrs"], ["", "12345", "1234567", "\uff11" * 6]),
    "day": near(["2026-01-05"], ["", "2026-13-01", "9999-12-31", "yesterday"]),
    "factor": near(["1", "3.5"], ["", "0", "-1", "21", "nan", "inf"]),
    "hours": near(["24", "6"], ["", "0", "25", "1.5"]),
    "seed": near(["1"], ["", "-1", "x"]),
    "calls": near(["profile", "recorded"], ["", "Recorded", "elsewhere"]),
    "profile": near(["contract-area"], ["", "national"]),
}
others = st.dictionaries(st.one_of(st.sampled_from(sorted(VALUES)), text), text, max_size=3)


def fields_of(route: str) -> st.SearchStrategy[dict[str, str]]:
    """The form's own fields, each there four times in five, and perhaps others besides."""
    model = MODELS[route]
    names = sorted(model.model_fields) if model else []
    mine = st.fixed_dictionaries(
        {name: st.one_of(*[VALUES[name]] * 4, st.none()) for name in names}
    )
    return st.tuples(mine, st.one_of(st.just({}), others)).map(
        lambda both: {k: v for k, v in (both[1] | both[0]).items() if v is not None}
    )


# Stand-ins for the callbacks' ids, known once they are booked: one unreachable, and the same
# caller's newer one, pending.
KNOWN = ("unreachable-callback", "pending-callback")
PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
PARAMETERS: dict[str, st.SearchStrategy[str]] = {
    "callback_id": near(KNOWN, ["nope", "cb1", KNOWN[0].upper()]),
    "handler_id": near(["h1", "h2"], ["h9", "H1"]),
    "username": near(["sam", "new.one", "nu"], ["ada", "nobody"]),
    "number": near(["1", "2", "3"], ["0", "99", "9" * 30]),
    "token_id": near(["0123456789ab"], ["", "nope", "x" * 64]),
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """A console form's route, its path with each `{parameter}` filled in, and a form."""
    route = draw(st.sampled_from(sorted(MODELS)))
    path = PARAMETER.sub(
        lambda match: quote(draw(PARAMETERS[match.group(1)]) or "x", safe=""), route
    )
    return route, path, draw(fields_of(route))


class Said(HTMLParser):
    """The words of a page's error summary (beyond its heading), field errors and lead line."""

    TELLING = {"error-summary", "field-error", "lead"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, bool]] = []  # (tag, inside something telling)
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"input", "meta", "link", "br", "img"}:
            return
        classes = set((dict(attrs).get("class") or "").split())
        inside = bool(self.open and self.open[-1][1])
        self.open.append(
            (tag, (inside or bool(classes & self.TELLING)) and tag not in {"h2", "h3"})
        )

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1][1] and data.strip():
            self.words.append(data.strip())


def said(html: str) -> list[str]:
    """What the page says is wrong."""
    parser = Said()
    parser.feed(html)
    return parser.words


@dataclass
class Floor:
    admin: Person
    people: People
    callbacks: tuple[str, str]

    def filled(self, path: str) -> str:
        for stand_in, callback_id in zip(KNOWN, self.callbacks, strict=True):
            path = path.replace(stand_in, callback_id)
        return path


@pytest.fixture
def floor(people: People, redis_url: str, staff: Staff, clock: VirtualClock) -> Floor:
    add_user(redis_url, "ada", Role.ADMIN, handler="h1")  # may post every form
    add_user(redis_url, "sam", Role.SUPERVISOR)
    unreachable = unreachable_then_more_booked(redis_url, clock, more=2)  # h1 hired, available
    staff("h2")
    pending = book_callback(redis_url, clock.now())
    admin = people()
    assert admin.sign_in("ada").status_code == 303
    return Floor(admin, people, (unreachable, pending))


def answered(person: Person, path: str, form: dict[str, str], token: str) -> httpx.Response:
    response = person.client.post(
        f"{BASE}{path}", data=form | {"csrf_token": token}, follow_redirects=False
    )
    person.keep()
    return response


def check(response: httpx.Response, sent: object) -> None:
    assert response.status_code < 500, (sent, response.status_code, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("text/html"), (sent, response.text)
        assert said(response.text), (sent, response.status_code, response.text)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_no_form_gets_a_server_error_and_every_refusal_says_why(
    floor: Floor, request: tuple[str, str, dict[str, str]]
) -> None:
    route, path, form = request
    path = floor.filled(path)
    sent = (path, form)
    if route == SIGN_IN:
        stranger = floor.people()
        response = answered(stranger, path, form, stranger.login_form())
        check(response, sent)
        return
    admin = floor.admin
    response = answered(admin, path, form, admin.csrf)
    if not compile_path(route)[0].match(response.request.url.path):
        # Text where the route wants a number, or a "/" in an id: no console view is reached,
        # and the console's own page says there is no such page.
        assert response.status_code == 404, sent
        assert "There is no such page." in response.text, sent
        check(response, sent)
        return
    check(response, sent)
    assert response.status_code not in (401, 403), (sent, response.text)  # an admin may
    if response.status_code == 303:
        check(admin.get(response.headers["location"]), sent)
    if route == SIGN_OUT:
        assert admin.sign_in("ada").status_code == 303


def test_every_form_the_consoles_accept_is_in_the_property() -> None:
    signing = {route.path for route in login.routes() if isinstance(route, Route)}
    assert set(MODELS) == {view.path for view in POSTS} | signing


def test_a_bad_form_about_a_callback_that_can_no_longer_change_still_says_what_was_wrong(
    supervisor: Person, redis_url: str, clock: VirtualClock
) -> None:
    """Found by the property above: once a callback is cancelled its page shows no forms, and
    the errors were shown only beside their fields, so a refused form said nothing."""
    callback_id = book_callback(redis_url, clock.now())
    supervisor.post(f"/console/callbacks/{callback_id}/cancel", {"reason": "caller rang 999"})

    no_reason = supervisor.post(f"/console/callbacks/{callback_id}/cancel", {"reason": " "})
    to_one = supervisor.post(
        f"/console/callbacks/{callback_id}/priority", {"priority": "1", "reason": "frail"}
    )

    assert no_reason.status_code == to_one.status_code == 422
    assert said(no_reason.text) == ["Reason for cancelling: This cannot be empty."]
    assert said(to_one.text) == ["New priority: Use 2 or more."]


def test_a_console_page_that_does_not_exist_is_the_consoles_own_page(supervisor: Person) -> None:
    response = supervisor.get("/console/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no such page." in response.text
