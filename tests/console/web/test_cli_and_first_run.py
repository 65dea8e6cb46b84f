"""`lifeline user ...` on the command line, and the first supervisor `make run` creates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis
import redis.asyncio
from click.testing import CliRunner
from starlette.testclient import TestClient

from config.redis_client import async_client
from console.tokens import Principal, Role, Tokens
from console.web.accounts import Accounts
from console.web.ratelimit import PER_CLIENT, LoginLimiter
from console.web.sessions import Session, Sessions, session_key
from lifeline import devrun
from lifeline.app import create_app
from lifeline.cli import main
from lifeline.redis_server import free_port
from routing import keys
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DISPATCH, PUBLIC_BASE_URL, make_settings
from tests.console.web.people import add_user


def environment(redis_url: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CLINICAL_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
        "AMBULANCE_DISPATCH_NUMBER": DISPATCH,
    }


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Away from the checkout, so that no `.env` or `var/run.env` of a local run is read."""
    monkeypatch.chdir(tmp_path)


def lifeline(redis_url: str, *args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, env=environment(redis_url))
    return result.exit_code, result.output


def authenticate(redis_url: str, username: str, password: str) -> Role | None:
    async def check() -> Role | None:
        client = async_client(redis_url)
        try:
            user = await Accounts(client).authenticate(username, password)
            return user.role if user else None
        finally:
            await client.aclose()

    return asyncio.run(check())


def test_user_add_reads_the_password_from_stdin_and_never_echoes_it(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    code, output = lifeline(
        redis_url, "user", "add", "--username", "hana", "--role", "handler", "--password-stdin",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert code == 0, output
    assert "account hana (handler) added; sign in at https://lifeline.example.org/login" in output
    assert "a long enough password" not in output
    assert authenticate(redis_url, "hana", "a long enough password") is Role.HANDLER
    assert '"handler":"hana"' in str(sync_redis.hget(keys.user("hana"), "profile"))


def test_user_add_prompts_twice_when_not_given_stdin(redis_url: str) -> None:
    code, output = lifeline(
        redis_url, "user", "add", "--username", "sue", "--role", "supervisor", "--name", "Sue",
        stdin="another long password\nanother long password\n",
    )  # fmt: skip
    assert code == 0, output
    assert authenticate(redis_url, "sue", "another long password") is Role.SUPERVISOR


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        (["--username", "sue", "--role", "supervisor"], "short\n", 2, "at least 10 characters"),
        (["--username", "Sue!", "--role", "admin"], "long enough pass\n", 2, "username"),
    ],
)
def test_user_add_refuses_what_breaks_the_rules(
    redis_url: str, args: list[str], stdin: str, code: int, says: str
) -> None:
    exit_code, output = lifeline(redis_url, "user", "add", *args, "--password-stdin", stdin=stdin)
    assert exit_code == code
    assert says in output


def test_user_list_and_disable(redis_url: str) -> None:
    for name in ("sue", "sue"):
        code, output = lifeline(
            redis_url, "user", "add", "--username", name, "--role", "supervisor",
            "--password-stdin", stdin="a long enough password\n",
        )  # fmt: skip
    assert code == 1
    assert "there is an account 'sue' already" in output
    listed = lifeline(redis_url, "user", "list")[1]
    assert listed.splitlines() == ["sue\tsupervisor\tenabled\tsue"]
    assert lifeline(redis_url, "user", "disable", "sue") == (
        0,
        "account sue disabled and signed out\n",
    )
    assert authenticate(redis_url, "sue", "a long enough password") is None
    assert lifeline(redis_url, "user", "disable", "nobody")[0] == 1


def test_a_disabled_account_is_enabled_again(redis_url: str) -> None:
    lifeline(
        redis_url, "user", "add", "--username", "sue", "--role", "supervisor",
        "--password-stdin", stdin="a long enough password\n",
    )  # fmt: skip
    lifeline(redis_url, "user", "disable", "sue")
    assert lifeline(redis_url, "user", "enable", "sue") == (0, "account sue enabled\n")
    assert authenticate(redis_url, "sue", "a long enough password") is Role.SUPERVISOR
    assert lifeline(redis_url, "user", "list")[1].splitlines() == ["sue\tsupervisor\tenabled\tsue"]
    assert lifeline(redis_url, "user", "enable", "nobody")[0] == 1


async def lock(client: redis.asyncio.Redis, username: str) -> int:
    """Fail as often as a client may: the seconds it must then wait."""
    limiter = LoginLimiter(client)
    for _ in range(PER_CLIENT.free):
        assert await limiter.attempt(username, "192.0.2.7", 0.0) == 0
    return await limiter.wait(username, "192.0.2.7", 0.0)


def test_an_administrator_unlocks_an_account_and_its_password_stays(redis_url: str) -> None:
    lifeline(
        redis_url, "user", "add", "--username", "hana", "--role", "handler",
        "--password-stdin", stdin="the right password\n",
    )  # fmt: skip

    async def locked() -> int:
        client = async_client(redis_url)
        try:
            return await lock(client, "hana")
        finally:
            await client.aclose()

    async def wait() -> int:
        client = async_client(redis_url)
        try:
            return await LoginLimiter(client).wait("hana", "192.0.2.7", 0.0)
        finally:
            await client.aclose()

    assert asyncio.run(locked()) > 0
    code, output = lifeline(redis_url, "user", "unlock", "hana")
    assert (code, output) == (0, "account hana unlocked: its failed sign-ins are forgotten\n")
    assert asyncio.run(wait()) == 0
    assert authenticate(redis_url, "hana", "the right password") is Role.HANDLER
    assert lifeline(redis_url, "user", "unlock", "nobody")[0] != 0


def test_a_password_reset_ends_the_sessions_and_lifts_the_sign_in_limit(redis_url: str) -> None:
    lifeline(
        redis_url, "user", "add", "--username", "hana", "--role", "handler",
        "--password-stdin", stdin="the forgotten password\n",
    )  # fmt: skip
    settings = make_settings(redis_url)

    async def lock_out() -> tuple[Session, int]:
        client = async_client(redis_url)
        try:
            session = await Sessions(client, session_key(settings), True).start("hana", 0.0)
            return session, await lock(client, "hana")
        finally:
            await client.aclose()

    session, wait = asyncio.run(lock_out())
    assert wait > 0

    code, output = lifeline(
        redis_url, "user", "password", "hana", "--password-stdin", stdin="a new long password\n"
    )
    assert (code, output) == (0, "password of hana set; its sessions have ended\n")
    assert "a new long password" not in output
    assert authenticate(redis_url, "hana", "a new long password") is Role.HANDLER
    assert authenticate(redis_url, "hana", "the forgotten password") is None

    async def after() -> tuple[bool, int]:
        client = async_client(redis_url)
        try:
            alive = await Sessions(client, session_key(settings), True).alive(session)
            return alive, await LoginLimiter(client).wait("hana", "192.0.2.7", 0.0)
        finally:
            await client.aclose()

    assert asyncio.run(after()) == (False, 0)


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["hana"], "short\n", "password: Value error, must be at least 10 characters"),
        (["nobody"], "a new long password\n", "no account nobody"),
    ],
)
def test_a_password_reset_refuses_a_weak_password_or_an_unknown_account(
    redis_url: str, args: list[str], stdin: str, says: str
) -> None:
    lifeline(
        redis_url, "user", "add", "--username", "hana", "--role", "handler",
        "--password-stdin", stdin="the old long password\n",
    )  # fmt: skip
    code, output = lifeline(redis_url, "user", "password", *args, "--password-stdin", stdin=stdin)
    assert code != 0
    assert says in output
    assert authenticate(redis_url, "hana", "the old long password") is Role.HANDLER


def test_a_first_run_makes_one_supervisor_and_the_demo_handlers_and_says_how_to_sign_in(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    made = asyncio.run(devrun.seed_accounts(redis_url, 0.0))
    assert [login.username for login in made] == ["supervisor", "demo-1", "demo-2"]
    devrun.keep_logins(made)
    kept = (tmp_path / devrun.LOGINS_FILE).read_text().splitlines()
    assert [line.rsplit(" ", 1)[0] for line in kept] == [
        f"{login.username} {login.password}" for login in made
    ]
    assert (tmp_path / devrun.LOGINS_FILE).stat().st_mode & 0o077 == 0
    supervisor_password = made[0].password
    assert authenticate(redis_url, "supervisor", supervisor_password) is Role.SUPERVISOR
    assert authenticate(redis_url, "demo-1", made[1].password) is Role.HANDLER
    env = {"PUBLIC_BASE_URL": "http://127.0.0.1:8000", "REDIS_URL": redis_url}
    env |= {"TWILIO_API_BASE_URL": "x", "WELSH_LINE_NUMBERS": "x", "AMBULANCE_DISPATCH_NUMBER": "x"}
    text = devrun.banner(env, None, made)
    assert "http://127.0.0.1:8000/login" in text
    assert f"supervisor   password {supervisor_password}" in text
    assert asyncio.run(devrun.seed_accounts(redis_url, 1.0)) == []  # once only
    assert "accounts exist" in devrun.banner(env, None, [])


def test_a_token_from_the_command_line_opens_the_api_until_it_is_revoked(
    redis_url: str,
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    code, output = lifeline(redis_url, "token", "create", "--account", "sue", "--name", "ops")
    assert code == 0
    *lines, secret = output.strip().splitlines()
    token_id = lines[-1].split()[1]
    assert lines[-1] == (
        f"token {token_id} (supervisor, of sue, for 90 days) created; keep it now, it is not "
        "shown again:"
    )
    code, listed = lifeline(redis_url, "token", "list")
    assert code == 0
    [row] = listed.strip().splitlines()
    assert row.startswith(f"{token_id}  sue  supervisor  made ")
    assert row.endswith("  ops")
    assert "(expired)" not in row
    assert secret not in row
    with TestClient(create_app(make_settings(redis_url))) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/queues", headers=headers).status_code == 200
        assert lifeline(redis_url, "token", "revoke", token_id)[0] == 0
        assert client.get("/api/v1/queues", headers=headers).status_code == 401
    assert lifeline(redis_url, "token", "list") == (0, "")


def test_a_token_is_at_most_its_accounts_role_and_a_handlers_acts_for_them(
    redis_url: str,
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    add_user(redis_url, "hana", Role.HANDLER, handler="h7")
    code, output = lifeline(redis_url, "token", "create", "--account", "sue", "--role", "admin")
    assert code == 2
    assert "sue is a supervisor: their tokens may not be admin" in output
    code, output = lifeline(redis_url, "token", "create", "--account", "sue", "--role", "chief")
    assert code == 2
    assert "Invalid value for '--role'" in output
    assert lifeline(redis_url, "token", "create", "--account", "nobody")[0] == 1
    code, output = lifeline(redis_url, "token", "create", "--account", "hana")
    assert code == 0
    principal = asyncio.run(verify(redis_url, output.strip().splitlines()[-1], 0.0))
    assert principal is not None
    assert (principal.role, principal.handler) == (Role.HANDLER, "h7")


async def verify(redis_url: str, token: str, now: float) -> Principal | None:
    client = async_client(redis_url)
    try:
        return await Tokens(client).verify(token, now)
    finally:
        await client.aclose()


def test_a_token_stops_working_when_it_expires_or_its_account_is_disabled(
    redis_url: str,
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)

    async def made(days: float) -> tuple[float, str]:
        client = async_client(redis_url)
        try:
            now = 1_767_225_600.0
            _, token = await Tokens(client).create("t", Role.SUPERVISOR, now, "", "sue", days)
            return now, token
        finally:
            await client.aclose()

    now, token = asyncio.run(made(1))
    assert asyncio.run(verify(redis_url, token, now + 86_399)) is not None
    assert asyncio.run(verify(redis_url, token, now + 86_400)) is None  # a day is up
    _, lasting = asyncio.run(made(90))
    assert asyncio.run(verify(redis_url, lasting, now)) is not None
    assert lifeline(redis_url, "user", "disable", "sue")[0] == 0
    assert asyncio.run(verify(redis_url, lasting, now)) is None
    assert lifeline(redis_url, "user", "enable", "sue")[0] == 0
    assert asyncio.run(verify(redis_url, lasting, now)) is None  # revoked, not suspended


def test_the_token_list_says_which_tokens_open_nothing_and_why(
    redis_url: str, sync_redis: redis.Redis
) -> None:
    """Kept from before tokens belonged to accounts (nobody's: refused), and from before they
    expired (90 days after they were made)."""
    made = 1_700_000_000.0
    for token_id, record in [("n0b0dy", {}), ("0ldsue", {"account": "sue"})]:
        info = {"id": token_id, "name": "old", "role": "admin", "handler": "", "created": made}
        sync_redis.set(keys.token(token_id), json.dumps(info | record))
        sync_redis.hset(keys.TOKENS, token_id, token_id)
    code, listed = lifeline(redis_url, "token", "list")
    assert code == 0
    rows = {row.split()[0]: row for row in listed.strip().splitlines()}
    nobodys = "expires 2024-02-12 22:13 UTC (revoked: made before tokens belonged to accounts)"
    assert nobodys in rows["n0b0dy"]
    assert "expires 2024-02-12 22:13 UTC (expired)" in rows["0ldsue"]


@pytest.mark.parametrize(
    "args",
    [["user", "list"], ["token", "create", "--account", "sue"], ["token", "revoke", "x"]],
)
def test_a_command_that_cannot_reach_redis_says_so_without_a_traceback(args: list[str]) -> None:
    dead = f"redis://:a-secret@127.0.0.1:{free_port()}/0"
    result = CliRunner().invoke(main, args, env=environment(dead))
    assert result.exit_code == 2
    assert "lifeline: Redis (REDIS_URL) cannot be reached" in result.output
    assert "Traceback" not in result.output
    assert "a-secret" not in result.output
