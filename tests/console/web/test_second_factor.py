"""The second factor: a TOTP code after the password, on a step of its own with the password's
limits; enrolment at the first sign-in; ten recovery codes, each used once; a code used once."""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import httpx2 as httpx
import pyotp
import pytest
import redis
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from config.redis_client import async_client
from config.settings import Settings
from console.tokens import Role
from console.web.accounts import Accounts, Hashing, NewUser
from console.web.mfa import Checked, SecondFactors
from console.web.ratelimit import PER_CLIENT, PER_USERNAME
from console.web.sessions import COOKIE
from lifeline.app import create_app
from routing import keys
from routing.clock import VirtualClock
from tests.conftest import make_settings
from tests.console.web.conftest import People
from tests.console.web.people import BASE, CHEAP, CODE_STEP, Person, add_user, next_code, stored

ENROL_STEP = "/login/enrol"
SECRET = re.compile(r'<code id="secret">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>")


def sessions_in(sync_redis: redis.Redis) -> list[str]:
    return list(sync_redis.scan_iter(match=keys.session("*")))


def session_cookies(response: httpx.Response) -> list[str]:
    headers = response.headers.get_list("set-cookie")
    return [header for header in headers if header.startswith(f"{COOKIE}=")]


def audit(sync_redis: redis.Redis) -> list[dict[str, str]]:
    rows = cast(list[tuple[str, dict[str, str]]], sync_redis.xrange(keys.AUDIT))
    return [fields for _, fields in rows]


def test_a_right_password_alone_gives_a_supervisor_no_session(
    people: People, redis_url: str, sync_redis: redis.Redis
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    answer = person.enter_password("sue")
    assert answer.status_code == 303
    assert answer.headers["location"] == CODE_STEP
    assert session_cookies(answer) == []
    assert sessions_in(sync_redis) == []
    assert person.get("/console/wallboard").url.path == "/login"
    asked = person.get(CODE_STEP)
    assert asked.status_code == 200
    assert 'autocomplete="one-time-code"' in asked.text
    [pending] = list(sync_redis.scan_iter(match=keys.pending_sign_in("*")))
    assert 0 < sync_redis.ttl(pending) <= 300  # five minutes to give the code


def test_the_code_completes_the_sign_in_where_the_person_was_going_and_is_audited(
    people: People, redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    person.enter_password("sue", next_path="/console/callbacks")
    done = person.enter_code(next_code(redis_url, "sue", clock))
    assert done.status_code == 303
    assert done.headers["location"] == "/console/callbacks"
    assert len(session_cookies(done)) == 1
    assert person.get("/console/wallboard").status_code == 200
    assert list(sync_redis.scan_iter(match=keys.pending_sign_in("*"))) == []
    [entry] = [row for row in audit(sync_redis) if row["action"] == "console.sign_in"]
    assert '"second_factor": "totp"' in entry["detail"]


def test_the_code_step_is_bound_to_the_browser_that_gave_the_password(
    people: People, redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    people().enter_password("sue")
    stranger = people()
    token = stranger.login_form()
    form = {"code": next_code(redis_url, "sue", clock), "csrf_token": token}
    answer = stranger.client.post(f"{BASE}{CODE_STEP}", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert sessions_in(sync_redis) == []


def test_wrong_codes_are_counted_before_they_are_checked_and_a_right_password_does_not_wipe_them(
    people: People, redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    person.enter_password("sue")
    secret, _ = stored(redis_url, "sue")
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.now())) + 1) % 1_000_000:06d}"
    for _ in range(5):
        refused = person.enter_code(wrong)
        assert refused.status_code == 401
        assert "That code is not right." in refused.text
    rested = person.enter_code(next_code(redis_url, "sue", clock))  # even the right one
    assert rested.status_code == 429
    assert rested.headers["Retry-After"] == "30"
    assert "Too many wrong codes. Try again in 30 seconds" in rested.text
    again = person.enter_password("sue")  # the password again: the code step stays rested
    assert again.headers["location"] == CODE_STEP
    assert person.enter_code(next_code(redis_url, "sue", clock)).status_code == 429
    clock.advance(30)
    assert person.enter_code(next_code(redis_url, "sue", clock)).status_code == 303


def test_a_code_is_accepted_once_and_never_again_within_its_window(
    people: People, redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    secret, _ = stored(redis_url, "sue")
    code = pyotp.TOTP(secret).at(clock.now())
    first = people()
    first.enter_password("sue")
    assert first.enter_code(code).status_code == 303
    second = people()
    second.enter_password("sue")
    replayed = second.enter_code(code)
    assert replayed.status_code == 401
    assert "That code has been used already. Wait for the next one." in replayed.text
    earlier = second.enter_code(pyotp.TOTP(secret).at(clock.now() - 30))  # in the window too
    assert earlier.status_code == 401
    assert len(sessions_in(sync_redis)) == 1
    clock.advance(30)
    assert second.enter_code(pyotp.TOTP(secret).at(clock.now())).status_code == 303


@pytest.mark.anyio
async def test_the_same_code_given_twice_at_once_is_accepted_once(redis_url: str) -> None:
    client = async_client(redis_url)
    try:
        password = SecretStr("a long enough password")
        await Accounts(client).add(
            NewUser(username="sue", name="Sue", role=Role.SUPERVISOR, password=password), 0.0
        )
        factors = SecondFactors(client, Hashing(), CHEAP)
        secret = pyotp.random_base32()
        await factors.enrol("sue", secret)
        code = pyotp.TOTP(secret).at(1_767_225_600.0)
        answers = await asyncio.gather(
            *(factors.check("sue", code, 1_767_225_600.0) for _ in range(20))
        )
    finally:
        await client.aclose()
    assert sorted(answers).count(Checked.CODE) == 1
    assert answers.count(Checked.USED) == 19


@pytest.mark.anyio
async def test_one_recovery_code_given_twice_at_once_signs_in_once(redis_url: str) -> None:
    client = async_client(redis_url)
    try:
        password = SecretStr("a long enough password")
        new = NewUser(username="sue", name="Sue", role=Role.SUPERVISOR, password=password)
        await Accounts(client).add(new, 0.0)
        factors = SecondFactors(client, Hashing(threads=2), CHEAP)
        [code, *_] = await factors.enrol("sue", pyotp.random_base32())
        answers = await asyncio.gather(*(factors.check("sue", code, 0.0) for _ in range(5)))
        assert await factors.recovery_left("sue") == 9
    finally:
        await client.aclose()
    assert answers.count(Checked.RECOVERY) == 1  # the rest: used, or gone by then


def enrol_at_first_sign_in(person: Person, username: str, clock: VirtualClock) -> list[str]:
    answer = person.enter_password(username)
    assert answer.headers["location"] == ENROL_STEP
    page = person.get(ENROL_STEP)
    found = SECRET.search(page.text)
    assert found, page.text
    secret = found.group(1).replace(" ", "")
    done = person.enter_code(pyotp.TOTP(secret).at(clock.now()), ENROL_STEP)
    assert done.status_code == 200, done.text
    return RECOVERY.findall(done.text)


def test_the_first_sign_in_enrols_with_a_qr_code_and_the_secret_as_text_then_ten_recovery_codes(
    people: People, redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR, enrol=False)
    person = people()
    assert person.enter_password("sue").headers["location"] == ENROL_STEP
    page = person.get(ENROL_STEP)
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code, drawn on the server, inline
    assert "otpauth://totp/" not in page.text.replace("otpauth://totp/Lifeline", "")  # no leaks
    secret = SECRET.search(page.text)
    assert secret is not None
    assert person.get(ENROL_STEP).text.count(secret.group(1)) == 1  # the same until confirmed
    assert person.get("/console/wallboard").url.path == "/login"  # not signed in yet
    wrong = person.enter_code("000000", ENROL_STEP)
    assert wrong.status_code == 401
    assert sync_redis.hget(keys.user("sue"), "totp") is None

    code = pyotp.TOTP(secret.group(1).replace(" ", "")).at(clock.now())
    done = person.enter_code(code, ENROL_STEP)
    assert done.status_code == 200
    codes = RECOVERY.findall(done.text)
    assert len(set(codes)) == 10
    assert person.get("/console/wallboard").status_code == 200
    assert sync_redis.hget(keys.user("sue"), "totp") == secret.group(1).replace(" ", "")
    kept = cast(dict[str, str], sync_redis.hgetall(keys.user_recovery("sue")))
    assert len(kept) == 10
    assert all(value.startswith("$argon2id$") for value in kept.values())
    assert not any(code.replace("-", "") in str(kept) for code in codes)  # hashed, not kept
    assert people().get(ENROL_STEP).url.path == "/login"  # nothing to show anyone now


def test_the_code_that_confirmed_enrolment_cannot_sign_in_again(
    people: People, redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR, enrol=False)
    enrol_at_first_sign_in(people(), "sue", clock)
    secret, _ = stored(redis_url, "sue")
    other = people()
    other.enter_password("sue")
    assert other.enter_code(pyotp.TOTP(secret).at(clock.now())).status_code == 401


def test_each_recovery_code_signs_in_once(
    people: People, redis_url: str, sync_redis: redis.Redis, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR, enrol=False)
    codes = enrol_at_first_sign_in(people(), "sue", clock)
    person = people()
    person.enter_password("sue")
    assert person.enter_code(codes[0].upper().replace("-", " ")).status_code == 303
    other = people()
    other.enter_password("sue")
    assert other.enter_code(codes[0]).status_code == 401
    assert other.enter_code(codes[1]).status_code == 303
    assert len(sync_redis.hgetall(keys.user_recovery("sue"))) == 8
    assert '"second_factor": "recovery code"' in audit(sync_redis)[-1]["detail"]


def test_a_handler_signs_in_with_the_password_alone_unless_they_have_a_second_factor(
    people: People, redis_url: str
) -> None:
    add_user(redis_url, "hana", Role.HANDLER, handler="h1", enrol=False)
    add_user(redis_url, "hal", Role.HANDLER, handler="h2")
    plain = people().enter_password("hana")
    assert plain.headers["location"] == "/console/handler"
    assert len(session_cookies(plain)) == 1
    assert people().enter_password("hal").headers["location"] == CODE_STEP


def test_a_handler_may_set_one_up_from_the_console(
    people: People, redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "hana", Role.HANDLER, handler="h1", enrol=False)
    person = people()
    person.sign_in("hana")
    page = person.get("/console/second-factor")
    assert page.status_code == 200
    found = SECRET.search(page.text)
    assert found
    code = pyotp.TOTP(found.group(1).replace(" ", "")).at(clock.now())
    wrong = person.post("/console/second-factor", {"code": f"{(int(code) + 1) % 10**6:06d}"})
    assert wrong.status_code == 422
    assert "That code is not right." in wrong.text
    done = person.post("/console/second-factor", {"code": code})
    assert done.status_code == 200
    assert len(RECOVERY.findall(done.text)) == 10
    clock.advance(30)
    assert people().enter_password("hana").headers["location"] == CODE_STEP
    assert "You sign in with a second factor." in person.get("/console/second-factor").text


def test_with_mfa_for_handlers_a_handler_enrols_at_the_first_sign_in(
    redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "hana", Role.HANDLER, handler="h1", enrol=False)
    settings = make_settings(redis_url, mfa_for_handlers=True)
    with TestClient(create_app(settings, clock=clock), base_url=BASE) as client:
        person = Person(client, redis_url, clock)
        assert person.enter_password("hana").headers["location"] == ENROL_STEP
        assert person.get("/console/handler").url.path == "/login"
        assert len(enrol_at_first_sign_in(Person(client, redis_url, clock), "hana", clock)) == 10


def test_the_secret_and_codes_are_never_logged(
    people: People, redis_url: str, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_user(redis_url, "sue", Role.SUPERVISOR, enrol=False)
    person = people()
    person.enter_password("sue")
    found = SECRET.search(person.get(ENROL_STEP).text)
    assert found
    secret = found.group(1).replace(" ", "")
    right = pyotp.TOTP(secret).at(clock.now())
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    assert person.enter_code(wrong, ENROL_STEP).status_code == 401
    codes = RECOVERY.findall(person.enter_code(right, ENROL_STEP).text)
    other = people()
    other.enter_password("sue")
    assert other.enter_code(wrong).status_code == 401
    assert other.enter_code(codes[0]).status_code == 303
    logged = caplog.text
    assert "a wrong code was refused" in logged  # the log does say what happened
    assert secret not in logged
    assert not any(code in logged for code in (right, wrong, *codes))


def from_addresses(app: ASGIApp) -> ASGIApp:
    """The app as reached across a network of many addresses: each request comes from the one
    its `x-test-address` header names (the stand-in for a client's address, not a header the
    app reads)."""

    async def reached(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            address = Headers(scope=scope).get("x-test-address", "testclient")
            scope = dict(scope, client=(address, 50000))
        await app(scope, receive, send)

    return reached


def wrong_code(redis_url: str, clock: VirtualClock) -> str:
    secret, _ = stored(redis_url, "sue")
    return f"{(int(pyotp.TOTP(secret).at(clock.now())) + 1) % 1_000_000:06d}"


def test_codes_from_ever_new_addresses_are_held_to_the_usernames_limit_of_one_a_minute(
    redis_url: str, clock: VirtualClock, settings: Settings
) -> None:
    """Someone who has the password, guessing codes from as many addresses as they like, as fast
    as they are let: the username's limit from anywhere holds them, as it does passwords (20
    free, then a delay doubling to a minute), so in an hour they try about 80 of a million."""
    add_user(redis_url, "sue", Role.SUPERVISOR)
    app = from_addresses(create_app(settings, clock=clock))
    with TestClient(app, base_url=BASE) as client:
        person = Person(client, redis_url, clock)
        person.enter_password("sue")
        token, wrong = person.step_form(), wrong_code(redis_url, clock)
        checked, waits, started = 0, [], clock.now()
        for n in range(1000):
            answer = person.client.post(
                f"{BASE}{CODE_STEP}",
                data={"code": wrong, "csrf_token": token},
                headers={"x-test-address": f"198.51.{n // 250}.{n % 250}"},
                follow_redirects=False,
            )
            if answer.status_code == 401:
                checked += 1
            else:
                assert answer.status_code == 429, answer.text
                waits.append(int(answer.headers["Retry-After"]))
                clock.advance(waits[-1])
            if clock.now() - started >= 3600:
                break
    # The free ones, the few while the delay doubles (5, 10, 20, 40 s), then one a minute.
    assert checked <= PER_USERNAME.free + 4 + 3600 // PER_USERNAME.longest_delay
    assert 0 < max(waits) <= PER_USERNAME.longest_delay
    assert clock.now() - started >= 3600  # the hour was used up, not the addresses


def test_concurrent_codes_from_one_client_are_each_counted_before_any_is_checked(
    people: People, redis_url: str, clock: VirtualClock
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    person = people()
    person.enter_password("sue")
    token, wrong = person.step_form(), wrong_code(redis_url, clock)
    client = person.client

    def guess(_: int) -> int:
        form = {"code": wrong, "csrf_token": token}
        return client.post(f"{BASE}{CODE_STEP}", data=form, follow_redirects=False).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(guess, range(40)))
    assert answers.count(401) == PER_CLIENT.free  # checked; every other one refused unchecked
    assert answers.count(429) == 40 - PER_CLIENT.free
