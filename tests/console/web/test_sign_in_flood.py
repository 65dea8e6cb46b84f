"""`lifeline web --serve console` under a flood of wrong sign-ins from one address: the flood is
refused at once, with `Retry-After`, and takes none of the shared argon2 capacity, so that staff
signing in from elsewhere meanwhile are let in."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import httpx

from console.tokens import Role
from tests.console.web.people import PASSWORD, add_user
from tests.lifeline.test_forwarded_headers import console_process

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
STRANGER = "203.0.113.7"
STAFF = "198.51.100.20"
GUESSERS = 20  # enough to keep the hashing pool (nine places) full
SIGN_INS = 3


async def form_token(client: httpx.AsyncClient, address: str) -> str:
    page = await client.get("/login", headers={"X-Forwarded-For": address})
    found = TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


async def flood(
    client: httpx.AsyncClient, stop: asyncio.Event, turned_away: asyncio.Event, refused: list[str]
) -> None:
    """Wrong passwords for names made up on the spot, one form token for all, as fast as they are
    answered; the `Retry-After` of each refusal is kept."""
    form = {"password": "not anyone's", "csrf_token": await form_token(client, STRANGER)}
    headers = {"X-Forwarded-For": STRANGER}

    async def guess() -> None:
        while not stop.is_set():
            guessed = {**form, "username": secrets.token_hex(6)}
            try:
                answer = await client.post("/login", data=guessed, headers=headers)
            except httpx.TransportError:  # a connection closed as it was reused: send again
                continue
            if answer.status_code == 429:
                refused.append(answer.headers.get("Retry-After", ""))
                turned_away.set()

    await asyncio.gather(*(guess() for _ in range(GUESSERS)))


async def sign_in(client: httpx.AsyncClient) -> httpx.Response:
    form = {"username": "sue", "password": PASSWORD, "csrf_token": await form_token(client, STAFF)}
    return await client.post("/login", data=form, headers={"X-Forwarded-For": STAFF})


async def while_flooded(base: str) -> tuple[list[int], list[str]]:
    """Staff's sign-ins once the flood is under way (and turned away in part), and the flood's
    refusals."""
    limits = httpx.Limits(max_connections=GUESSERS)
    async with (
        httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as stranger,
        httpx.AsyncClient(base_url=base, timeout=60) as staff,
    ):
        stop, turned_away, refused = asyncio.Event(), asyncio.Event(), list[str]()
        flooding = asyncio.create_task(flood(stranger, stop, turned_away, refused))
        try:
            await asyncio.wait_for(turned_away.wait(), 60)
            answers = [(await sign_in(staff)).status_code for _ in range(SIGN_INS)]
        finally:
            stop.set()
            await flooding
    return answers, refused


def test_a_flood_from_one_address_leaves_staff_elsewhere_free_to_sign_in(
    redis_url: str, tmp_path: Path
) -> None:
    add_user(redis_url, "sue", Role.SUPERVISOR)
    with console_process(redis_url, tmp_path, TRUSTED_PROXIES="127.0.0.1") as probe:
        answers, refused = asyncio.run(while_flooded(str(probe.base_url)))
    assert answers == [303] * SIGN_INS  # the password step passed, every time: on to the code
    assert all(seconds.isdigit() and int(seconds) > 0 for seconds in refused)
