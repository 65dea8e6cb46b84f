"""Accounts: argon2 hashes only, sign-in checks, disabled accounts, the password policy."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis.asyncio
from argon2 import PasswordHasher
from pydantic import SecretStr, ValidationError

from console.tokens import Role
from console.web.accounts import AccountExists, Accounts, Hashing, HashingBusy, NewUser
from routing import keys

pytestmark = pytest.mark.anyio
PASSWORD = "a long enough password"


def new(username: str = "sue", role: Role = Role.SUPERVISOR, handler: str = "") -> NewUser:
    return NewUser(
        username=username, name="Sue", role=role, handler=handler, password=SecretStr(PASSWORD)
    )


async def test_only_an_argon2id_hash_of_the_password_is_kept(aredis: redis.asyncio.Redis) -> None:
    await Accounts(aredis).add(new(), 1.0)
    stored = await aredis.hget(keys.user("sue"), "password")
    assert str(stored).startswith("$argon2id$")
    assert ",p=1$" in str(stored)  # one lane: a check takes one core, not four
    everything = [await aredis.dump(key) for key in await aredis.keys("*")]
    assert not any(PASSWORD.encode() in (value or b"") for value in everything)


async def test_the_right_password_signs_in_and_a_wrong_one_or_unknown_user_does_not(
    aredis: redis.asyncio.Redis,
) -> None:
    accounts = Accounts(aredis)
    await accounts.add(new(), 1.0)
    user = await accounts.authenticate("sue", PASSWORD)
    assert user is not None
    assert (user.username, user.role, user.supervises) == ("sue", Role.SUPERVISOR, True)
    assert await accounts.authenticate("sue", PASSWORD + "!") is None
    assert await accounts.authenticate("nobody", PASSWORD) is None


async def test_a_disabled_account_cannot_sign_in(aredis: redis.asyncio.Redis) -> None:
    accounts = Accounts(aredis)
    await accounts.add(new(), 1.0)
    assert await accounts.disable("sue")
    assert await accounts.authenticate("sue", PASSWORD) is None
    assert not await accounts.any_supervisor()
    assert not await accounts.disable("nobody")


async def test_a_username_is_taken_once(aredis: redis.asyncio.Redis) -> None:
    accounts = Accounts(aredis)
    await accounts.add(new(), 1.0)
    with pytest.raises(AccountExists):
        await accounts.add(new(role=Role.ADMIN), 2.0)
    [only] = await accounts.all()
    assert only.role is Role.SUPERVISOR


async def test_a_weak_hash_is_upgraded_at_the_next_sign_in(aredis: redis.asyncio.Redis) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await Accounts(aredis, weak).add(new(), 1.0)
    before = await aredis.hget(keys.user("sue"), "password")
    assert await Accounts(aredis).authenticate("sue", PASSWORD) is not None
    after = str(await aredis.hget(keys.user("sue"), "password"))
    assert after != before
    assert not Accounts(aredis).hasher.check_needs_rehash(after)


async def test_a_password_can_be_changed_under_the_same_policy(
    aredis: redis.asyncio.Redis,
) -> None:
    accounts = Accounts(aredis)
    await accounts.add(new(), 1.0)
    assert await accounts.set_password("sue", SecretStr("another long password"))
    assert await accounts.authenticate("sue", "another long password") is not None
    with pytest.raises(ValidationError):
        await accounts.set_password("sue", SecretStr("short"))


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"password": SecretStr("too short")}, "at least 10 characters"),
        ({"username": "Sue Smith"}, "string should match pattern"),
        ({"role": Role.HANDLER}, "needs the id of the handler"),
        ({"role": Role.HANDLER, "handler": "Not An Id"}, "string should match pattern"),
    ],
)
def test_accounts_that_break_the_rules_are_refused(
    fields: dict[str, object], complaint: str
) -> None:
    values: dict[str, object] = {
        "username": "sue",
        "name": "Sue",
        "role": Role.SUPERVISOR,
        "password": SecretStr(PASSWORD),
    }
    with pytest.raises(ValidationError) as refused:
        NewUser.model_validate(values | fields)
    assert complaint in str(refused.value).lower()


async def test_passwords_are_checked_on_a_pool_of_their_own_and_a_full_one_refuses_at_once(
    aredis: redis.asyncio.Redis,
) -> None:
    hashing = Hashing(threads=1, waiting=1)
    accounts = Accounts(aredis, hashing=hashing)
    await accounts.add(new(), 1.0)
    release = threading.Event()
    names: list[str] = []

    def hold() -> None:
        names.append(threading.current_thread().name)
        release.wait(10)

    held = [asyncio.ensure_future(hashing.run(hold)) for _ in range(2)]  # one running, one waiting
    await asyncio.sleep(0.05)
    try:
        with pytest.raises(HashingBusy):
            await accounts.authenticate("sue", PASSWORD)
        with pytest.raises(HashingBusy):
            await accounts.authenticate("nobody", PASSWORD)
    finally:
        release.set()
        await asyncio.gather(*held)
    assert names[0].startswith("argon2")
    assert await accounts.authenticate("sue", PASSWORD) is not None  # free again


def test_a_client_has_one_turn_at_a_time_and_others_are_not_held_up() -> None:
    hashing = Hashing()
    with hashing.turn_of("203.0.113.7"):
        with pytest.raises(HashingBusy) as refused:
            hashing.turn_of("203.0.113.7")
        assert refused.value.retry_after_seconds == 1
        with hashing.turn_of("198.51.100.20"):  # another client meanwhile
            pass
    with hashing.turn_of("203.0.113.7"):  # its turn over, the client may take another
        pass
    with pytest.raises(RuntimeError), hashing.turn_of("203.0.113.7"):
        raise RuntimeError("a check that failed")
    assert hashing.clients == set()  # given back however the check ended
