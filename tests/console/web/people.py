"""People using the consoles in-process: accounts made through the real store, and a client per
person (their own cookies) that signs in through the real form and posts forms with its token."""

from __future__ import annotations

import asyncio
import re

import httpx2 as httpx
import redis.asyncio
from pydantic import SecretStr
from starlette.testclient import TestClient

from console.tokens import Role
from console.web.accounts import Accounts, NewUser

BASE = "https://testserver"  # the settings' public URL is https: cookies are Secure
PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def add_user(
    redis_url: str, username: str, role: Role, handler: str = "", password: str = PASSWORD
) -> None:
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
        finally:
            await client.aclose()

    asyncio.run(add())


class Person:
    """Someone at a browser: their own cookies, on a client they may share with others."""

    def __init__(self, client: TestClient) -> None:
        self.shared = client
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
        data = {"username": username, "password": password, "csrf_token": self.login_form()}
        if next_path:
            data["next"] = next_path
        response = self.client.post(f"{BASE}/login", data=data, follow_redirects=False)
        self.keep()
        if response.status_code == 303:
            self.get("/console/")
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
