"""API keys: created by the CLI, stored hashed in the Trellis database, checked on every request.

Keys look like AppSync's (``da2-`` + 26 characters) and carry 130 bits of randomness, so a SHA-256
digest is a safe stored form (no password-style KDF needed). Stored keys are found by
digest (timing can at most reveal a digest prefix, which does not help find a key); the keys
registered from the environment are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Column, Connection, MetaData, Table, Text, insert, select, update

from app.errors import UnauthorizedError
from auth.base import UNAUTHORIZED_MESSAGE, AuthRequest
from auth.modes import AuthMode, Identity
from datasources.sql import SqlDatabase

_ALPHABET = string.ascii_lowercase + string.digits
_metadata = MetaData()
api_keys_table = Table(
    "trellis_api_keys",
    _metadata,
    Column("id", Text, primary_key=True),
    Column("digest", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked", Boolean, nullable=False, default=False),
)


def new_key() -> str:
    return "da2-" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    description: str | None
    created_at: int
    expires_at: int | None
    revoked: bool


class ApiKeyStore:
    """Keys in the database, plus keys registered from the environment at start-up (memory only)."""

    def __init__(self, database: SqlDatabase, clock: Callable[[], float] = time.time, refresh_seconds: float = 5.0):
        self._database = database
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._env_digests: set[str] = set()
        self._known: dict[str, tuple[int | None, bool]] = {}
        self._loaded_at = float("-inf")

    async def migrate(self) -> None:
        await self._database.run(_metadata.create_all)

    def register(self, key: str) -> None:
        self._env_digests.add(digest(key))

    async def create(
        self, description: str | None = None, expires_in_seconds: int | None = None
    ) -> tuple[str, ApiKeyRecord]:
        key = new_key()
        now = int(self._clock())
        record = ApiKeyRecord(
            id=secrets.token_hex(6), description=description, created_at=now,
            expires_at=now + expires_in_seconds if expires_in_seconds else None, revoked=False,
        )
        statement = insert(api_keys_table).values(digest=digest(key), **record.__dict__)
        await self._database.run(lambda conn: conn.execute(statement))
        self._loaded_at = float("-inf")
        return key, record

    async def list(self) -> list[ApiKeyRecord]:
        def read(conn: Connection) -> list[ApiKeyRecord]:
            rows = conn.execute(select(api_keys_table).order_by(api_keys_table.c.created_at))
            return [ApiKeyRecord(r.id, r.description, r.created_at, r.expires_at, bool(r.revoked)) for r in rows]

        return await self._database.read(read)

    async def revoke(self, key_id: str) -> bool:
        statement = update(api_keys_table).where(api_keys_table.c.id == key_id).values(revoked=True)
        count = await self._database.run(lambda conn: conn.execute(statement).rowcount)
        self._loaded_at = float("-inf")
        return bool(count)

    async def _refresh(self) -> None:
        # Keys change rarely; a short-lived in-memory copy keeps the check off the database
        # while a revocation made by another instance still takes effect within seconds.
        now = self._clock()
        if now - self._loaded_at < self._refresh_seconds:
            return
        statement = select(api_keys_table.c.digest, api_keys_table.c.expires_at, api_keys_table.c.revoked)
        rows = await self._database.read(lambda conn: conn.execute(statement).all())
        self._known = {r.digest: (r.expires_at, bool(r.revoked)) for r in rows}
        self._loaded_at = now

    async def verify(self, key: str | None) -> bool:
        if not key:
            return False
        given = digest(key)
        for stored in self._env_digests:
            if hmac.compare_digest(stored, given):
                return True
        await self._refresh()
        entry = self._known.get(given)
        if entry is None:
            return False
        expires_at, revoked = entry
        return not revoked and (expires_at is None or self._clock() < expires_at)


class ApiKeyAuthorizer:
    """API_KEY mode: the ``x-api-key`` header, checked against the key store."""

    mode = AuthMode.API_KEY

    def __init__(self, store: ApiKeyStore) -> None:
        self.store = store

    def presents(self, request: AuthRequest) -> bool:
        return "x-api-key" in request.headers

    async def authenticate(self, request: AuthRequest) -> Identity:
        if not await self.store.verify(request.headers.get("x-api-key")):
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
        return API_KEY_IDENTITY


# AppSync passes no identity to resolvers for API-key requests.
API_KEY_IDENTITY = Identity(AuthMode.API_KEY, None)
