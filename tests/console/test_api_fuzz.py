"""Garbage at the API, as a property: whatever body, query and path a supervisor's script sends to
any endpoint, the answer is never a server error, and an error says what was wrong."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from console.api import ENDPOINTS
from console.tokens import Role
from tests.console.test_api import RULES, client, token_for  # noqa: F401  # the fixture

PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
FIELDS = [
    "id", "name", "skills", "device", "kind", "address", "state", "reason", "mode", "priority",
    "document", "number", "version", "note", "en", "cy", "outcome", "notes", "facts", "screen",
    "locale", "line", "at", "window", "status",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["available", "break", "degraded", "normal", "auto", "1", "client", "yes"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    json_values.map(lambda value: ("json", value)),
    st.binary(max_size=60).map(lambda raw: ("raw", raw)),
)
path_values = st.one_of(st.sampled_from(["1", "0", "-1", "h1", "nobody", "99999"]), st.text())
queries = st.dictionaries(
    st.sampled_from(["window", "status", "priority", "overdue", "format", "count", "action"]),
    st.one_of(st.sampled_from(["15m", "1h", "today", "true", "csv", "2", "-3"]), st.text()),
    max_size=3,
)


@pytest.fixture
def admin_token(redis_url: str) -> str:
    return token_for(redis_url, Role.ADMIN, scopes=RULES)  # activation reached too


def filled(path: str, values: list[str]) -> str:
    """The path with each `{parameter}` replaced by one of `values`, percent-encoded."""
    supply = iter(values)
    return PARAMETER.sub(lambda _: quote(next(supply, "x") or "x", safe=""), path)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    values=st.lists(path_values, min_size=1, max_size=2),
    query=queries,
    body=bodies,
)
def test_no_request_gets_a_server_error_and_every_error_says_why(
    client: TestClient,  # noqa: F811
    admin_token: str,
    endpoint: Any,
    values: list[str],
    query: dict[str, str],
    body: tuple[str, Any],
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    kind, payload = body
    sent: dict[str, Any] = {"json": payload} if kind == "json" else {"content": payload}
    response = client.request(
        endpoint.method, filled(endpoint.path, values), params=query, headers=headers, **sent
    )
    assert response.status_code < 500, (endpoint.path, query, body, response.text)
    if response.status_code >= 400 and response.headers["content-type"] == "application/json":
        assert response.json()["error"], response.text


def test_a_path_or_method_the_api_does_not_have_is_told_in_json(client: TestClient) -> None:  # noqa: F811
    missing = client.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"error": "no such endpoint"})
    wrong = client.delete("/api/v1/queues")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "that method is not allowed here"}
    assert "GET" in wrong.headers["allow"]
