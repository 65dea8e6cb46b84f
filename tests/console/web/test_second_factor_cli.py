"""The second factor on the command line: an administrator resets one, a token is given the rules
scope only when asked, a local run's accounts are enrolled and the run says how to get a code."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pyotp
import pytest
import redis
from click.testing import CliRunner

from config.redis_client import async_client
from console.tokens import Role, Scope
from console.web.sessions import Sessions, session_key
from lifeline import devrun
from lifeline.cli import main
from routing import keys
from tests.conftest import make_settings
from tests.console.web.people import add_user, stored
from tests.console.web.test_cli_and_first_run import environment, verify


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Away from the checkout, so that no `.env` or `var/run.env` of a local run is read."""
    monkeypatch.chdir(tmp_path)


def lifeline(redis_url: str, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=environment(redis_url) | env)
    return result.exit_code, result.output


def test_an_administrator_resets_a_second_factor_and_the_sessions_end(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    settings = make_settings(redis_url)

    async def signed_in() -> bool:
        client = async_client(redis_url)
        try:
            sessions = Sessions(client, session_key(settings), True)
            session = await sessions.start("sue", 0.0, second_factor=True)
            return await sessions.alive(session)
        finally:
            await client.aclose()

    assert asyncio.run(signed_in())
    code, output = lifeline(redis_url, "user", "reset-mfa", "sue")
    assert (code, output) == (
        0,
        "second factor of sue removed; its sessions have ended; it sets up a new one at its "
        "next sign-in\n",
    )
    assert sync_redis.hget(keys.user("sue"), "totp") is None
    assert sync_redis.exists(keys.user_recovery("sue")) == 0
    assert list(sync_redis.scan_iter(match=keys.session("*"))) == []
    assert lifeline(redis_url, "user", "reset-mfa", "nobody")[0] == 1


def test_the_current_code_is_printed_for_a_local_run_only(redis_url: str) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    secret, _ = stored(redis_url, "sue")
    code, output = lifeline(
        redis_url, "user", "totp", "sue", PUBLIC_BASE_URL="http://127.0.0.1:8000"
    )
    assert code == 0
    totp = pyotp.TOTP(secret)
    assert output.strip() in {totp.at(time.time() - 5), totp.now()}  # a step may turn meanwhile
    code, output = lifeline(redis_url, "user", "totp", "sue")  # https://lifeline.example.org
    assert code == 2
    assert "only for a local run" in output
    assert secret not in output


def test_a_token_has_the_rules_scope_only_when_asked_and_never_for_a_handler(
    redis_url: str,
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    code, output = lifeline(redis_url, "token", "create", "--account", "sue", "--scope", "rules")
    assert code == 0, output
    assert "(supervisor, of sue, scope rules, for 90 days)" in output
    principal = asyncio.run(verify(redis_url, output.strip().splitlines()[-1], 0.0))
    assert principal is not None
    assert principal.scopes == frozenset({Scope.RULES})
    assert principal.account == "sue"
    plain = lifeline(redis_url, "token", "create", "--account", "sue")[1]
    ordinary = asyncio.run(verify(redis_url, plain.strip().splitlines()[-1], 0.0))
    assert ordinary is not None
    assert ordinary.scopes == frozenset()
    listed = lifeline(redis_url, "token", "list")[1].splitlines()
    assert sorted("scope rules" in row for row in listed) == [False, True]
    code, output = lifeline(
        redis_url, "token", "create", "--account", "sue", "--role", "handler", "--handler",
        "h1", "--scope", "rules",
    )  # fmt: skip
    assert code == 2
    assert "the rules scope is for supervisor and admin tokens" in output


def test_a_first_run_enrols_its_accounts_keeps_their_secrets_and_says_how_to_get_a_code(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    made = asyncio.run(devrun.seed_accounts(redis_url, 0.0))
    assert [login.username for login in made] == ["supervisor", "demo-1", "demo-2"]
    for login in made:
        assert stored(redis_url, login.username)[0] == login.secret
    devrun.keep_logins(made)
    kept = (tmp_path / devrun.LOGINS_FILE).read_text().splitlines()
    assert kept == [f"{login.username} {login.password} {login.secret}" for login in made]
    env = {"PUBLIC_BASE_URL": "http://127.0.0.1:8000", "REDIS_URL": redis_url}
    env |= {"TWILIO_API_BASE_URL": "x", "WELSH_LINE_NUMBERS": "x", "AMBULANCE_DISPATCH_NUMBER": "x"}
    text = devrun.banner(env, None, made)
    assert ".venv/bin/lifeline user totp supervisor" in text
    assert made[0].secret not in text  # kept in the file, not shown on the terminal
