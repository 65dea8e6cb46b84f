"""Browser sessions: signed HttpOnly SameSite cookies, Secure over https, ended by signing out or
by disabling the account, a new id at each sign-in, and no way to be sent off-site."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio
from starlette.testclient import TestClient

from config.settings import Settings
from console.tokens import Role
from console.web.sessions import COOKIE, Sessions, digest, session_key
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from tests.conftest import AUTH_TOKEN, make_settings
from tests.console.web.conftest import People
from tests.console.web.people import BASE, Person, add_user


def cookie_header(person: Person, username: str) -> str:
    response = person.sign_in(username)  # the password, then the code: the session's answer
    assert response.status_code == 303
    [session] = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
    return session.lower()


def test_the_session_cookie_is_signed_httponly_samesite_and_secure_on_https(
    people: People, redis_url: str
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    header = cookie_header(people(), "sue")
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" in header
    assert "path=/" in header


def test_over_plain_http_the_cookie_is_not_marked_secure(
    redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    settings = make_settings(redis_url, public_base_url="http://127.0.0.1:8000")
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        header = cookie_header(Person(client, redis_url, clock), "sue").split(";")
    assert "secure" not in [part.strip() for part in header]


def test_a_tampered_cookie_is_a_stranger(supervisor: Person) -> None:
    signed = supervisor.client.cookies[COOKIE]
    supervisor.set_cookie(COOKIE, signed[:-2] + ("AA" if signed[-2:] != "AA" else "BB"))
    response = supervisor.get("/console/wallboard")
    assert response.url.path == "/login"
    assert response.url.query == b"next=/console/wallboard"


def test_signing_out_ends_the_session_on_the_server(supervisor: Person) -> None:
    kept = supervisor.client.cookies[COOKIE]
    assert supervisor.post("/logout").url.path == "/login"
    supervisor.set_cookie(COOKIE, kept)  # the old cookie, replayed
    assert supervisor.get("/console/wallboard").url.path == "/login"


def test_disabling_an_account_ends_its_sessions_at_once(supervisor: Person, admin: Person) -> None:
    assert supervisor.get("/console/wallboard").status_code == 200
    done = admin.post("/console/accounts/sue/disable")
    assert "Account sue is disabled and signed out." in done.text
    assert supervisor.get("/console/wallboard").url.path == "/login"


def test_each_sign_in_makes_a_new_session(people: People, redis_url: str) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    person.sign_in("sue")
    first = person.client.cookies[COOKIE]
    person.post("/logout")
    person.sign_in("sue")
    people().sign_in("sue")  # the same account elsewhere: a session of its own
    assert person.client.cookies[COOKIE] != first
    redis_keys = asyncio.run(session_keys(redis_url))
    assert len(redis_keys) == 2
    assert not any(first.split(".")[0] in key for key in redis_keys)  # ids are kept as digests


async def session_keys(redis_url: str) -> list[str]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [str(key) async for key in client.scan_iter(match=keys.session("*"))]
    finally:
        await client.aclose()


def test_after_sign_in_a_person_goes_where_they_were_going_but_never_off_site(
    people: People, redis_url: str
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    for wanted, landed in [
        ("/console/callbacks", "/console/callbacks"),
        ("https://evil.example/console/x", "/console/wallboard"),
        ("//evil.example/console/", "/console/wallboard"),
        ("/console/../login", "/console/wallboard"),
    ]:
        response = people().sign_in("sue", next_path=wanted)
        assert response.headers["location"] == landed, wanted


def test_the_session_key_comes_from_session_secret_or_else_from_the_auth_token(
    settings: Settings, redis_url: str
) -> None:
    derived = session_key(settings)
    assert derived != AUTH_TOKEN.encode()
    assert derived == session_key(make_settings(redis_url))  # stable across restarts
    assert session_key(make_settings(redis_url, twilio_auth_token="another-token")) != derived
    assert session_key(make_settings(redis_url, session_secret="s3cret-for-sessions")) == (
        b"s3cret-for-sessions"
    )


def test_a_cookie_signed_with_another_key_is_refused(redis_url: str, settings: Settings) -> None:
    async def go() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            ours = Sessions(client, session_key(settings), secure=True)
            theirs = Sessions(client, b"some other key", secure=True)
            session = await theirs.start("sue", 0.0)
            assert await theirs.find(theirs.signer.dumps(session.id)) is not None
            assert await ours.find(theirs.signer.dumps(session.id)) is None
        finally:
            await client.aclose()

    asyncio.run(go())


def test_a_username_is_read_without_case_or_spaces(people: People, redis_url: str) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    assert people().sign_in("  Sue ").status_code == 303


def old_session(redis_url: str, settings: Settings, username: str) -> str:
    """A session record as kept before second factors (no word of one), written straight into
    Redis; its cookie, signed as the console signs one."""

    async def write() -> str:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            sessions = Sessions(client, session_key(settings), secure=True)
            session_id = "an-old-session-id-made-before-second-factors"
            await client.hset(
                keys.session(digest(session_id)),
                mapping={"username": username, "csrf": "old-csrf-token", "created": "0.0"},
            )
            await client.expire(keys.session(digest(session_id)), 3600)
            await client.sadd(keys.user_sessions(username), digest(session_id))
            return sessions.signer.dumps(session_id)
        finally:
            await client.aclose()

    return asyncio.run(write())


def test_a_supervisors_session_from_before_second_factors_is_sent_to_sign_in_again(
    people: People, redis_url: str, settings: Settings, sync_redis: redis.Redis
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    add_user(redis_url, "ada", Role.ADMIN)
    for username, page in [("sue", "/console/wallboard"), ("ada", "/console/accounts")]:
        person = people()
        person.login_form()  # a cookie jar on the console's domain
        cookie = old_session(redis_url, settings, username)
        person.set_cookie(COOKIE, cookie)
        forced = {"mode": "degraded", "reason": "diverting", "csrf_token": "old-csrf-token"}
        refused = person.client.post(f"{BASE}/console/mode", data=forced, follow_redirects=False)
        assert refused.status_code == 401, (username, refused.text[:300])
        assert sync_redis.get(keys.MODE) is None  # nothing was changed
        assert list(sync_redis.scan_iter(match=keys.session("*"))) == []  # ended, not kept
        person.set_cookie(COOKIE, old_session(redis_url, settings, username))
        response = person.get(page)
        assert response.url.path == "/login", (username, response.text[:200])
        assert list(sync_redis.scan_iter(match=keys.session("*"))) == []


def test_with_mfa_for_handlers_a_handlers_session_without_a_second_factor_signs_in_again(
    redis_url: str, clock: VirtualClock, sync_redis: redis.Redis
) -> None:
    add_user(redis_url, "hana", Role.HANDLER, handler="h1")
    for required, landed in [(False, "/console/handler"), (True, "/login")]:
        settings = make_settings(redis_url, mfa_for_handlers=required)
        with TestClient(create_app(settings, clock=clock), base_url=BASE) as client:
            person = Person(client, redis_url, clock)
            person.login_form()
            person.set_cookie(COOKIE, old_session(redis_url, settings, "hana"))
            assert person.get("/console/handler").url.path == landed, required


def test_a_notice_for_a_session_just_ended_does_not_bring_it_back(
    supervisor: Person, settings: Settings, redis_url: str, sync_redis: redis.Redis
) -> None:
    """An admin disables the account (or resets its second factor) while a change of its person
    is being answered: the notice for their next page finds no session, and makes none."""
    cookie = supervisor.client.cookies[COOKIE]

    async def race() -> tuple[bool, str]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            sessions = Sessions.of(client, settings)
            session = await sessions.find(cookie)
            assert session is not None
            assert await sessions.end_all("sue") == 1
            await sessions.notify(session, "Mode changed to degraded.")
            await sessions.confirmed(session)
            secret = await sessions.propose(session, "JBSWY3DPEHPK3PXP")
            return await sessions.alive(session), secret
        finally:
            await client.aclose()

    alive, secret = asyncio.run(race())
    assert not alive  # a live page's stream stops
    assert secret == "JBSWY3DPEHPK3PXP"  # shown, kept nowhere
    assert list(sync_redis.scan_iter(match=keys.session("*"))) == []
    response = supervisor.get("/console/wallboard")
    assert response.url.path == "/login"


def test_a_session_record_without_its_person_is_no_session_and_is_removed(
    supervisor: Person, sync_redis: redis.Redis
) -> None:
    """What a notice written as a session ended left behind before notices checked for one."""
    [key] = sync_redis.scan_iter(match=keys.session("*"))
    sync_redis.delete(key)
    sync_redis.hset(key, "notices", '["Mode changed to degraded."]')

    response = supervisor.get("/console/wallboard")

    assert response.url.path == "/login"
    assert not sync_redis.exists(key)
