"""Every console page checks who is asking, server-side: signed in, the right role (a handler
never reaches a supervisor page, stream or action), and the session's CSRF token on every POST.
The routes checked are the running app's own, not our declarations of them."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from console.tokens import Role
from console.web.routes import VIEWS
from tests.console.test_api import token_for
from tests.console.web.conftest import People
from tests.console.web.people import BASE, Person, add_user
from tests.staff import Staff

PARAMETER = re.compile(r"\{(\w+)(:int|:version)?\}")


def concrete(path: str, handler: str = "h1") -> str:
    """A path to request for a route: `handler_id` is the given handler (by default the signed-in
    handler's own), a number 1, anything else `x`."""

    def value(match: re.Match[str]) -> str:
        if match.group(1) == "handler_id":
            return handler
        return "1" if match.group(2) else "x"

    return PARAMETER.sub(value, path)


POSTS = [view for view in VIEWS if view.method == "POST"]

# All a handler may use; every other route the app serves must refuse them. Paths as routed, with
# `{handler_id}` their own id only.
HANDLER_MAY = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/code"),  # the sign-in's second step (a pending sign-in or none)
    ("POST", "/login/code"),
    ("GET", "/login/enrol"),
    ("POST", "/login/enrol"),
    ("GET", "/console/second-factor"),  # their own second factor
    ("POST", "/console/second-factor"),
    ("POST", "/logout"),
    ("GET", "/console"),  # both send them on to their own console
    ("GET", "/console/"),
    ("GET", "/console/handler"),
    ("POST", "/console/handler/state"),
    ("POST", "/console/handler/wrap-up"),
    ("POST", "/console/handler/booking/search"),  # free appointments for their call
    ("POST", "/console/handler/booking"),
    ("POST", "/console/handler/send-on"),  # their caller, to the ambulance service or a clinician
    ("POST", "/console/handler/clinician-callback"),
    ("POST", "/console/handler/heartbeat"),
    ("GET", "/console/handler/events"),
    ("GET", "/console/handler/phone-token"),
    ("GET", "/console/static"),
    ("GET", "/api/v1/handlers/{handler_id}"),
    ("GET", "/api/v1/handlers/{handler_id}/history"),
    ("GET", "/api/v1/handlers/{handler_id}/feedback"),  # their own patients' answers
    ("PUT", "/api/v1/handlers/{handler_id}/state"),
    ("POST", "/api/v1/handlers/{handler_id}/heartbeat"),
    ("POST", "/api/v1/handlers/{handler_id}/wrap-up"),
    ("POST", "/api/v1/handlers/{handler_id}/send-on"),
    ("POST", "/api/v1/handlers/{handler_id}/clinician-callback"),
    ("GET", "/api/v1/mode"),  # normal or degraded, as their console shows it
    ("GET", "/api/v1/rules"),  # the active rule set, read-only
    ("GET", "/api/v1/openapi.json"),  # the API's description, the same for everyone
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


def served(app: Starlette) -> set[tuple[str, str]]:
    """Every (method, path) the running app routes (HEAD goes with GET)."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        found |= route_methods(route)
    return found


def route_methods(route: BaseRoute) -> set[tuple[str, str]]:
    match route:
        case Route(methods=methods):
            return {(method, route.path) for method in methods or () if method != "HEAD"}
        case Mount():
            return {("GET", route.path)}
    raise AssertionError(f"a kind of route this test does not know how to try: {route!r}")


# Valid bodies for a handler's own endpoints, so that one for another handler is refused for
# whose it is, not for its body.
BODIES: dict[str, dict[str, object]] = {
    "/api/v1/handlers/{handler_id}/state": {"state": "available"},
    "/api/v1/handlers/{handler_id}/wrap-up": {"outcome": "advice_given"},
    "/api/v1/handlers/{handler_id}/send-on": {"to": "dispatch"},
    "/api/v1/handlers/{handler_id}/clinician-callback": {"urgency": "immediate"},
}


def as_handler(person: Person, token: str, method: str, path: str, route: str) -> tuple[int, str]:
    """A request to `path` (of `route`) with everything a handler holds: their session (and its
    CSRF token, so that a refusal is for the role, not the form) and their API token. Streams
    are asked for one round."""
    api = route.startswith("/api/")
    sends = method != "GET"
    form = {"csrf_token": person.csrf, "reason": "x", "mode": "degraded"}
    response = person.client.request(
        method,
        f"{BASE}{path}",
        params=None if sends else {"once": "1"},
        json=BODIES.get(route, {}) if sends and api else None,
        data=form if sends and not api else None,
        headers={
            "accept": "text/html",
            "authorization": f"Bearer {token}",
            "x-csrf-token": person.csrf,
        },
        follow_redirects=False,
    )
    person.keep()
    return response.status_code, response.text


def refuses(status: int, text: str) -> bool:
    """403, or 401 where a route takes other credentials than a session (/metrics)."""
    return status in (401, 403) and "This form has expired" not in text


def test_the_structure_holds_every_post() -> None:
    assert len(POSTS) >= 12


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


def test_a_handler_is_refused_every_route_but_their_own(
    handler_person: Person, staff: Staff, redis_url: str
) -> None:
    staff("h1", "h2")
    app = handler_person.shared.app
    assert isinstance(app, Starlette)
    routes = served(app)
    assert routes >= HANDLER_MAY  # no entry above names a route that is gone
    token = token_for(redis_url, Role.HANDLER, handler="h1")

    reached = []
    for method, path in sorted(routes - HANDLER_MAY):
        status, text = as_handler(handler_person, token, method, concrete(path), path)
        if not refuses(status, text):
            reached.append(f"{method} {path}: {status}")
    assert reached == []
    mode = handler_person.get("/console/handler")  # and nothing was changed on the way
    assert "Mode: normal" in mode.text


def test_a_handler_is_refused_another_handlers_routes(
    handler_person: Person, staff: Staff, redis_url: str
) -> None:
    staff("h1", "h2")
    token = token_for(redis_url, Role.HANDLER, handler="h1")
    theirs = sorted(route for route in HANDLER_MAY if "{handler_id}" in route[1])
    assert theirs
    reached = []
    for method, path in theirs:
        other = concrete(path, handler="h2")
        status, text = as_handler(handler_person, token, method, other, path)
        if not refuses(status, text):
            reached.append(f"{method} {path} as h2: {status}")
    assert reached == []


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
    assert "the body is over 524288 bytes" in response.text
    assert response.headers["x-frame-options"] == "DENY"  # refused inside the console's headers
    assert "Mode: normal" in supervisor.get("/console/mode").text
