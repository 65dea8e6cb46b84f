"""A path parameter nobody could mean is not found, never a server error: a version number of
thousands of digits once raised inside route matching, before any sign-in check."""

from __future__ import annotations

from starlette.testclient import TestClient

from console.tokens import Role
from tests.console.test_api import RULES, client, token_for  # noqa: F401  # the fixture

ENDLESS = "9" * 5000


def test_a_version_number_of_thousands_of_digits_is_not_found(
    client: TestClient,  # noqa: F811
    redis_url: str,
) -> None:
    token = {"Authorization": f"Bearer {token_for(redis_url, Role.SUPERVISOR, scopes=RULES)}"}
    for path in (f"/api/v1/rules/versions/{ENDLESS}", f"/console/rules/versions/{ENDLESS}"):
        assert client.get(path).status_code == 404, path
        assert client.get(path, headers=token).status_code == 404, path
    activate = f"/api/v1/rules/versions/{ENDLESS}/activate"
    assert client.post(activate, headers=token, json={"reason": "x"}).status_code == 404
    assert client.get("/api/v1/rules/versions/1", headers=token).status_code == 200
