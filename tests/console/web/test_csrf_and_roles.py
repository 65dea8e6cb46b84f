"""Every console page checks who is asking, server-side: signed in, the right role (a handler
never reaches a supervisor page, stream or action), and the session's CSRF token on every POST."""

from __future__ import annotations

import re

from console.tokens import Role
from console.web.auth import SUPERVISORS
from console.web.routes import VIEWS
from tests.console.web.conftest import People
from tests.console.web.people import BASE, Person, add_user
from tests.staff import Staff

PARAMETER = re.compile(r"\{(\w+)(:int)?\}")


def concrete(path: str) -> str:
    return PARAMETER.sub(lambda match: "1" if match.group(2) else "x", path)


POSTS = [view for view in VIEWS if view.method == "POST"]
SUPERVISOR_VIEWS = [view for view in VIEWS if view.roles <= SUPERVISORS]


def test_the_structure_holds_every_post_and_every_supervisor_page() -> None:
    assert len(POSTS) >= 12
    assert {"/console/wallboard", "/console/rules/edit", "/console/mode"} <= {
        view.path for view in SUPERVISOR_VIEWS
    }
    assert not [view.path for view in SUPERVISOR_VIEWS if view.path.startswith("/console/handler/")]


def test_a_post_without_the_sessions_csrf_token_is_refused(
    people: People, redis_url: str, staff: Staff
) -> None:
    add_user(redis_url, "ada", Role.ADMIN, handler="h1")  # may do everything
    staff("h1")
    person = people()
    person.sign_in("ada")
    accepted = []
    for view in POSTS:
        for token in ("", "not-the-token", person.csrf[:-1]):
            response = person.post(concrete(view.path), {"reason": "x"}, token=token)
            if response.status_code != 403 or "This form has expired" not in response.text:
                accepted.append(f"{view.path} with token {token!r}: {response.status_code}")
    assert accepted == []


def test_the_token_may_come_in_a_header_for_scripts(handler_person: Person, staff: Staff) -> None:
    staff("h1")
    url = f"{BASE}/console/handler/heartbeat"
    assert handler_person.client.post(url).status_code == 403
    sent = handler_person.client.post(url, headers={"X-CSRF-Token": handler_person.csrf})
    assert sent.status_code == 204


def test_a_handler_is_refused_every_supervisor_page_stream_and_action(
    handler_person: Person, staff: Staff, redis_url: str
) -> None:
    staff("h1")
    reached = []
    for view in SUPERVISOR_VIEWS:
        path = concrete(view.path)
        if view.method == "GET":
            response = handler_person.get(path)
        else:
            response = handler_person.post(path, {"reason": "x", "mode": "degraded"})
        if response.status_code != 403 or "does not give access" not in response.text:
            reached.append(f"{view.method} {path}: {response.status_code}")
    assert reached == []
    assert handler_person.get("/console/mode").status_code == 403
    mode = handler_person.get("/console/handler")  # and nothing was changed on the way
    assert "Mode: normal" in mode.text


def test_nobody_signed_in_is_sent_to_sign_in_and_scripts_get_401(people: People) -> None:
    stranger = people()
    page = stranger.get("/console/mode")
    assert page.url.path == "/login"
    assert 'name="next" value="/console/mode"' in page.text
    stream = stranger.client.get(
        f"{BASE}/console/events/wallboard", headers={"accept": "text/event-stream"}
    )
    assert stream.status_code == 401
    assert stranger.client.post(f"{BASE}/console/mode", data={}).status_code == 401


def test_only_admins_manage_accounts(supervisor: Person, admin: Person) -> None:
    assert supervisor.get("/console/accounts").status_code == 403
    assert admin.get("/console/accounts").status_code == 200
    assert "Accounts" in admin.get("/console/wallboard").text  # in the admin's navigation


def test_a_supervisor_who_takes_no_calls_has_no_handler_console(supervisor: Person) -> None:
    assert supervisor.get("/console/handler").status_code == 403
    assert supervisor.get("/console/").url.path == "/console/wallboard"


def test_console_pages_carry_the_security_headers(supervisor: Person) -> None:
    headers = supervisor.get("/console/wallboard").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["strict-transport-security"].startswith("max-age=")
    css = supervisor.client.get(f"{BASE}/console/static/console.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")


def test_an_oversized_form_is_refused_before_it_is_read(supervisor: Person) -> None:
    response = supervisor.post("/console/mode", {"reason": "x" * 600_000, "mode": "degraded"})
    assert response.status_code == 413
    assert "That form is too large." in response.text
    assert "Mode: normal" in supervisor.get("/console/mode").text
