"""Password hashing with scrypt (memory-hard) and Cognito's default password policy.

A stored hash is ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (base64 salt and key), so the cost can be
raised later without invalidating existing hashes. Hashing runs in worker threads, at most
``concurrency`` at a time: each call holds ``128 * n * r`` bytes (32 MiB at the defaults), so a
flood of sign-in attempts queues instead of exhausting memory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KEY_BYTES = 32
SALT_BYTES = 16
# Cognito's symbol set for its password policy.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.n * self.r * (self.p + 1) + (1 << 20)


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=params.maxmem, dklen=KEY_BYTES)


def hash_password(password: str, params: ScryptParams) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    encode = base64.b64encode
    return f"scrypt${params.n}${params.r}${params.p}${encode(salt).decode()}${encode(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        params = ScryptParams(int(n), int(r), int(p))
        expected = base64.b64decode(key)
        salt_bytes = base64.b64decode(salt)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(_derive(password, salt_bytes, params), expected)


class PasswordHasher:
    """Hash and verify off the event loop, a bounded number at a time."""

    def __init__(self, params: ScryptParams, concurrency: int = 4) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def prepare(self) -> None:
        """Make the dummy hash now, so the first unknown-user sign-in costs what any other does."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password, self.params)

    async def verify(self, password: str, stored: str | None) -> bool:
        """``stored=None`` (no such user) still costs one full hash, so timing does not tell users apart."""
        if stored is None:
            await self.prepare()
            assert self._dummy is not None
            await self._verify(password, self._dummy)
            return False
        return await self._verify(password, stored)

    async def _verify(self, password: str, stored: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(verify_password, password, stored)


@dataclass(frozen=True)
class PasswordPolicy:
    """Cognito's default: at least 8 characters with upper, lower, digit and symbol."""

    min_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True

    def problem(self, password: str) -> str | None:
        """Cognito's ``InvalidPasswordException`` message, or None when the password conforms."""
        prefix = "Password did not conform with policy: "
        if len(password) < self.min_length:
            return prefix + "Password not long enough"
        if self.require_uppercase and not any(c.isupper() for c in password):
            return prefix + "Password must have uppercase characters"
        if self.require_lowercase and not any(c.islower() for c in password):
            return prefix + "Password must have lowercase characters"
        if self.require_numbers and not any(c in string.digits for c in password):
            return prefix + "Password must have numeric characters"
        if self.require_symbols and not any(c in SYMBOLS for c in password):
            return prefix + "Password must have symbol characters"
        return None

    def generate(self) -> str:
        """A random temporary password that satisfies the policy."""
        alphabet = string.ascii_letters + string.digits + "!#%+-=^_~"
        while True:
            candidate = "".join(secrets.choice(alphabet) for _ in range(max(self.min_length, 16)))
            if self.problem(candidate) is None:
                return candidate
