"""People using the consoles in-process: accounts made through the real store (enrolled with a
second factor, as every account that signs in has one), and a client per person (their own
cookies) that signs in through the real form, code step included, and posts forms with its token."""

from __future__ import annotations

import asyncio
import re
import time

import httpx2 as httpx
import pyotp
import redis
import redis.asyncio
from argon2 import PasswordHasher
from pydantic import SecretStr
from starlette.testclient import TestClient

from console.tokens import Role
from console.web.accounts import Accounts, Hashing, NewUser
from console.web.mfa import STEP_SECONDS, SecondFactors
from routing import keys
from routing.clock import VirtualClock

BASE = "https://testserver"  # the settings' public URL is https: cookies are Secure
PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CODE_STEP = "/login/code"
# Recovery codes of test accounts are hashed cheaply: argon2's real cost ten times per account
# would slow every test that adds one (the hash records its own cost, so it checks the same).
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HASHING = Hashing()


def add_user(
    redis_url: str,
    username: str,
    role: Role,
    handler: str = "",
    password: str = PASSWORD,
    enrol: bool = True,
) -> str:
    """Add an account, enrolled with a second factor unless `enrol` is false (then it enrols at
    its first sign-in); the TOTP secret, or ""."""
    secret = pyotp.random_base32() if enrol else ""

    async def add() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            new = NewUser(
                username=username,
                name=username.title(),
                role=role,
                handler=handler,
                password=SecretStr(password),
            )
            await Accounts(client).add(new, 0.0)
            if secret:
                await SecondFactors(client, HASHING, CHEAP).enrol(username, secret)
        finally:
            await client.aclose()

    asyncio.run(add())
    return secret


def stored(redis_url: str, username: str) -> tuple[str, int]:
    """The account's TOTP secret as kept in Redis, and the last time-step accepted (-1: none)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        secret, last = client.hmget(keys.user(username.strip().lower()), ["totp", "totp_step"])
    finally:
        client.close()
    assert secret, f"{username} has no second factor"
    return str(secret), int(last) if last is not None else -1


def next_code(redis_url: str, username: str, clock: VirtualClock | None = None) -> str:
    """The code the person's authenticator app shows, read off it as a person would: when the
    code of this moment has been used already, they wait for the next one (a virtual clock is
    moved on; the real one is waited for)."""
    secret, last = stored(redis_url, username)
    now = clock.now() if clock else time.time()
    if int(now // STEP_SECONDS) <= last:
        wait = (last + 1) * STEP_SECONDS - now
        if clock:
            clock.advance(wait)
        else:
            time.sleep(wait)
        now += wait
    return pyotp.TOTP(secret).at(now)


class Person:
    """Someone at a browser: their own cookies, on a client they may share with others."""

    def __init__(
        self, client: TestClient, redis_url: str = "", clock: VirtualClock | None = None
    ) -> None:
        self.shared = client
        self.redis_url = redis_url  # where their account's second factor is (their phone's app)
        self.clock = clock  # the app's, when it is virtual
        self.jar = httpx.Cookies()
        self.csrf = ""

    @property
    def client(self) -> TestClient:
        """The client, holding this person's cookies (read back with `keep`)."""
        self.shared.cookies = self.jar
        return self.shared

    def keep(self) -> None:
        self.jar = self.shared.cookies

    def login_form(self) -> str:
        """The sign-in form's token (and its cookie, now in this person's jar)."""
        page = self.client.get(f"{BASE}/login", follow_redirects=False)
        self.keep()
        assert page.status_code == 200, page.text
        found = TOKEN.search(page.text)
        assert found, page.text
        return found.group(1)

    def sign_in(
        self, username: str, password: str = PASSWORD, next_path: str = ""
    ) -> httpx.Response:
        """The password, then, when asked, the code from their authenticator app: the answer to
        the last step taken."""
        response = self.enter_password(username, password, next_path)
        if response.status_code == 303 and response.headers["location"] == CODE_STEP:
            response = self.enter_code(next_code(self.redis_url, username, self.clock))
        if response.status_code == 303:
            self.get("/console/")
        return response

    def enter_password(
        self, username: str, password: str = PASSWORD, next_path: str = ""
    ) -> httpx.Response:
        data = {"username": username, "password": password, "csrf_token": self.login_form()}
        if next_path:
            data["next"] = next_path
        response = self.client.post(f"{BASE}/login", data=data, follow_redirects=False)
        self.keep()
        return response

    def step_form(self, path: str = CODE_STEP) -> str:
        """The page of a sign-in step (the code, or enrolment) and its form's token."""
        page = self.client.get(f"{BASE}{path}", follow_redirects=False)
        self.keep()
        assert page.status_code == 200, (page.status_code, page.text)
        found = TOKEN.search(page.text)
        assert found, page.text
        return found.group(1)

    def enter_code(self, code: str, path: str = CODE_STEP) -> httpx.Response:
        data = {"code": code, "csrf_token": self.step_form(path)}
        response = self.client.post(f"{BASE}{path}", data=data, follow_redirects=False)
        self.keep()
        return response

    def set_cookie(self, name: str, value: str) -> None:
        """Replace a cookie in this person's jar (as an attacker or a stale tab might)."""
        domains = [cookie.domain for cookie in self.jar.jar if cookie.name == name]
        self.jar.delete(name)
        self.jar.set(name, value, domain=domains[0] if domains else "")

    def get(self, path: str, **headers: str) -> httpx.Response:
        response = self.client.get(
            f"{BASE}{path}", headers={"accept": "text/html", **headers}, follow_redirects=True
        )
        self.keep()
        found = META.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(
        self, path: str, data: dict[str, str] | None = None, token: str | None = None
    ) -> httpx.Response:
        """A form post, with this person's CSRF token unless `token` says otherwise."""
        form = dict(data or {})
        form["csrf_token"] = self.csrf if token is None else token
        response = self.client.post(f"{BASE}{path}", data=form, follow_redirects=False)
        self.keep()
        if response.status_code == 303:
            return self.get(response.headers["location"])
        return response
