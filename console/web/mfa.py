"""The consoles' second factor: a TOTP secret per account (RFC 6238, 30-second steps), each step
accepted once, and ten recovery codes kept only as argon2 hashes, each used once.

The secret has to be readable to check codes, so it is kept in Redis on the account; it is shown
once, at enrolment, and never logged.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import cast

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pyotp.utils import strings_equal
from redis.asyncio import Redis

from console.web.accounts import Accounts, Hashing, User
from routing import keys
from routing.lua import argument

STEP_SECONDS = 30
WINDOW = 1  # steps either side of now: a phone whose clock is a little off still works
ISSUER = "Lifeline"
RECOVERY_CODES = 10
RECOVERY_GROUPS = 4  # of four characters: about 79 bits, the first group naming the code
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class Checked(StrEnum):
    """What a code given at sign-in turned out to be (the values are what the audit says)."""

    CODE = "totp"  # right, for a step later than any accepted before
    RECOVERY = "recovery code"  # one of the account's, now used up
    USED = "used"  # right, but its step (or the recovery code) was used already
    WRONG = "wrong"


class AlreadyEnrolled(Exception):
    """The account has a second factor already (set up meanwhile, in another tab)."""


class UnknownAccount(Exception):
    pass


# KEYS[1]: the account. `step`: the step a right code was for. 1 when that step is later than
# every step accepted before (it becomes the last), 0 when it is not: a code is used once.
_CLAIM = """
local a = cjson.decode(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'totp') == 0 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'totp_step') or '-1')
if tonumber(a.step) <= last then return 0 end
redis.call('HSET', KEYS[1], 'totp_step', a.step)
return 1
"""

# KEYS: the account, its recovery codes. The `secret`, the last `step` accepted, and `codes`: each
# recovery code's first group and hash. -1: no such account; 0: it has a second factor already.
_ENROL = """
local a = cjson.decode(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'profile') == 0 then return -1 end
if redis.call('HEXISTS', KEYS[1], 'totp') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'totp', a.secret, 'totp_step', a.step)
redis.call('DEL', KEYS[2])
if #a.codes > 0 then redis.call('HSET', KEYS[2], unpack(a.codes)) end
return 1
"""


def required(user: User, handlers_too: bool) -> bool:
    """Supervisors and admins always; handlers when MFA_FOR_HANDLERS says so (otherwise it is
    theirs to choose)."""
    return user.supervises or handlers_too


def code_attempts(username: str) -> str:
    """The name codes are counted under by the sign-in limiter: the password's limits, in records
    of their own, so that a right password never wipes out wrong codes."""
    return f"{username}/second-factor"


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def grouped(secret: str) -> str:
    """The secret as a person types it into an app: in groups of four."""
    return " ".join(secret[at : at + 4] for at in range(0, len(secret), 4))


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth URI as a QR code, an inline SVG drawn here (nothing is fetched from
    elsewhere, so the secret goes nowhere but the page)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"))


def code_at(secret: str, now: float) -> str:
    return pyotp.TOTP(secret).at(now)


def step_of(secret: str, code: str, now: float) -> int | None:
    """The step a right code is for, within the window around `now`; None for a wrong one."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if strings_equal(code, totp.generate_otp(step)):
            return step
    return None


def normalised(code: str) -> str:
    """What a person typed, without spaces or dashes, in lower case."""
    return "".join(code.split()).replace("-", "").lower()


def recovery_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(4 * RECOVERY_GROUPS))
    return "-".join(raw[at : at + 4] for at in range(0, len(raw), 4))


def is_totp(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def is_recovery(code: str) -> bool:
    return len(code) == 4 * RECOVERY_GROUPS and all(char in ALPHABET for char in code)


class SecondFactors:
    def __init__(self, redis: Redis, hashing: Hashing, hasher: PasswordHasher) -> None:
        self.redis = redis
        self.hashing = hashing  # the passwords' pool: recovery codes are hashed as they are
        self.hasher = hasher
        self._claim = redis.register_script(_CLAIM)
        self._enrol = redis.register_script(_ENROL)

    @classmethod
    def of(cls, accounts: Accounts) -> SecondFactors:
        return cls(accounts.redis, accounts.hashing, accounts.hasher)

    async def enrolled(self, username: str) -> bool:
        return bool(await self.redis.hexists(keys.user(username), "totp"))

    async def secret(self, username: str) -> str | None:
        return cast(str | None, await self.redis.hget(keys.user(username), "totp"))

    async def enrol(self, username: str, secret: str, used_step: int = -1) -> list[str]:
        """Give the account its secret (`used_step`: the step of the code that confirmed it, so
        that code cannot sign in again) and ten new recovery codes, returned to be shown once."""
        codes: dict[str, str] = {}
        while len(codes) < RECOVERY_CODES:
            code = recovery_code()
            codes.setdefault(code[:4], code)
        hashed: list[str] = []
        for label, code in codes.items():
            hashed += [label, await self.hashing.run(self.hasher.hash, normalised(code))]
        args = argument(secret=secret, step=used_step, codes=hashed)
        done = int(
            await self._enrol(keys=[keys.user(username), keys.user_recovery(username)], args=args)
        )
        if done < 0:
            raise UnknownAccount(f"no account {username}")
        if done == 0:
            raise AlreadyEnrolled(f"{username} has a second factor already")
        return list(codes.values())

    async def check(self, username: str, code: str, now: float) -> Checked:
        """A code from the account's app or one of its recovery codes; either is accepted once."""
        given = normalised(code)
        if is_totp(given):
            secret = await self.secret(username)
            step = step_of(secret, given, now) if secret else None
            if step is None:
                return Checked.WRONG
            claimed = await self._claim(keys=[keys.user(username)], args=argument(step=step))
            return Checked.CODE if int(claimed) else Checked.USED
        if not is_recovery(given):
            return Checked.WRONG
        label = given[:4]
        hashed = await self.redis.hget(keys.user_recovery(username), label)
        if not hashed:
            return Checked.WRONG
        try:
            await self.hashing.run(self.hasher.verify, str(hashed), given)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Checked.WRONG
        # Whoever removes it first has used it: two sign-ins with one code, one succeeds.
        removed = await self.redis.hdel(keys.user_recovery(username), label)
        return Checked.RECOVERY if removed else Checked.USED

    async def recovery_left(self, username: str) -> int:
        return int(await self.redis.hlen(keys.user_recovery(username)))

    async def reset(self, username: str) -> None:
        """Forget the account's secret and recovery codes: it sets up a new one at its next
        sign-in."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.user(username), "totp", "totp_step")
            pipe.delete(keys.user_recovery(username))
            await pipe.execute()
