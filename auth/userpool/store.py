"""The pool's tables in the Trellis database (``trellis_userpool_*``), through ``SqlDatabase``.

* ``users``: one row per user: ``sub`` (UUID), username (and its case-folded key: usernames are
  case-insensitive, as in new Cognito pools), attributes (JSON), status, password hash, sealed TOTP
  secret (and a pending one being set up), the last TOTP step used (a code works once).
* ``groups`` and ``members``.
* ``sessions``: one row per sign-in (the tokens' ``origin_jti``): the refresh token's SHA-256
  digest, expiry, revocation. GlobalSignOut revokes every session of a user, which invalidates
  their refresh tokens and, because the authorizer checks ``origin_jti``, their access/ID tokens.
* ``codes``: confirmation / password-reset codes (digest, expiry, wrong attempts).
* ``challenges``: auth-challenge ``Session`` strings (digest, kind, expiry, attempts, data).
* ``throttle``: consecutive failures and lock-out time per key (sign-in per username).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from auth.userpool.tables import challenges, codes, groups, keys, members, metadata, sessions, throttle, users
from datasources.sql import SqlDatabase


class DuplicateError(Exception):
    """A row with this key exists already (username, group name)."""


@dataclass(frozen=True)
class UserRecord:
    sub: str
    username: str
    attributes: dict[str, str]
    status: str
    created_at: int
    updated_at: int
    enabled: bool = True
    password_hash: str | None = field(default=None, repr=False)
    mfa_secret: str | None = field(default=None, repr=False)
    mfa_pending: str | None = field(default=None, repr=False)
    mfa_enabled: bool = False
    totp_last_step: int | None = None


@dataclass(frozen=True)
class GroupRecord:
    name: str
    description: str | None
    precedence: int | None
    role_arn: str | None
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class SessionRecord:
    origin_jti: str
    sub: str
    auth_time: int
    expires_at: int
    revoked: bool


@dataclass(frozen=True)
class Pending:
    """A confirmation code or an auth challenge waiting for its answer."""

    sub: str
    kind: str
    digest: str
    expires_at: int
    attempts: int
    data: dict[str, Any]


def _user(row: Any) -> UserRecord:
    return UserRecord(
        sub=row.sub, username=row.username, attributes=json.loads(row.attributes), status=row.status,
        created_at=row.created_at, updated_at=row.updated_at, enabled=bool(row.enabled),
        password_hash=row.password_hash, mfa_secret=row.mfa_secret, mfa_pending=row.mfa_pending,
        mfa_enabled=bool(row.mfa_enabled), totp_last_step=row.totp_last_step,
    )


def _group(row: Any) -> GroupRecord:
    return GroupRecord(row.name, row.description, row.precedence, row.role_arn, row.created_at, row.updated_at)


def username_key(username: str) -> str:
    return username.casefold()


class UserPoolStore:
    def __init__(self, database: SqlDatabase, pool_id: str) -> None:
        self.database = database
        self.pool_id = pool_id

    async def migrate(self) -> None:
        await self.database.run(metadata.create_all)

    async def _write(self, fn: Callable[[Connection], Any]) -> Any:
        try:
            return await self.database.write(fn)
        except IntegrityError as exc:
            raise DuplicateError(str(exc.orig)) from exc

    # ------------------------------------------------------------------------------------ users

    async def user(self, username: str) -> UserRecord | None:
        statement = select(users).where(users.c.pool_id == self.pool_id,
                                        users.c.username_key == username_key(username))
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        return _user(row) if row is not None else None

    async def user_by_sub(self, sub: str) -> UserRecord | None:
        statement = select(users).where(users.c.pool_id == self.pool_id, users.c.sub == sub)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        return _user(row) if row is not None else None

    async def create_user(self, user: UserRecord) -> None:
        values = {**user.__dict__, "attributes": json.dumps(user.attributes), "pool_id": self.pool_id,
                  "username_key": username_key(user.username)}
        await self._write(lambda conn: conn.execute(insert(users).values(**values)))

    async def save_user(self, user: UserRecord, now: int) -> UserRecord:
        saved = replace(user, updated_at=now)
        values = {k: v for k, v in saved.__dict__.items() if k not in {"sub", "username", "created_at"}}
        values["attributes"] = json.dumps(saved.attributes)
        statement = update(users).where(users.c.sub == user.sub).values(**values)
        await self._write(lambda conn: conn.execute(statement))
        return saved

    async def delete_user(self, sub: str) -> None:
        def run(conn: Connection) -> None:
            conn.execute(delete(members).where(members.c.sub == sub))
            conn.execute(delete(sessions).where(sessions.c.sub == sub))
            conn.execute(delete(codes).where(codes.c.sub == sub))
            conn.execute(delete(challenges).where(challenges.c.sub == sub))
            conn.execute(delete(users).where(users.c.sub == sub))

        await self._write(run)

    async def list_users(self, offset: int, limit: int) -> list[UserRecord]:
        statement = (select(users).where(users.c.pool_id == self.pool_id).order_by(users.c.username_key)
                     .offset(offset).limit(limit))
        rows = await self.database.read(lambda conn: conn.execute(statement).all())
        return [_user(row) for row in rows]

    # ----------------------------------------------------------------------------------- groups

    async def create_group(self, group: GroupRecord) -> None:
        statement = insert(groups).values(pool_id=self.pool_id, **group.__dict__)
        await self._write(lambda conn: conn.execute(statement))

    async def group(self, name: str) -> GroupRecord | None:
        statement = select(groups).where(groups.c.pool_id == self.pool_id, groups.c.name == name)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        return _group(row) if row is not None else None

    async def groups_of(self, sub: str) -> list[GroupRecord]:
        statement = (select(groups).join(members, (members.c.pool_id == groups.c.pool_id)
                                         & (members.c.group_name == groups.c.name))
                     .where(members.c.sub == sub, groups.c.pool_id == self.pool_id)
                     .order_by(groups.c.precedence.is_(None), groups.c.precedence, groups.c.name))
        rows = await self.database.read(lambda conn: conn.execute(statement).all())
        return [_group(row) for row in rows]

    async def add_member(self, group: str, sub: str) -> None:
        def run(conn: Connection) -> None:
            exists = conn.execute(select(members.c.sub).where(
                members.c.pool_id == self.pool_id, members.c.group_name == group, members.c.sub == sub)).first()
            if exists is None:
                conn.execute(insert(members).values(pool_id=self.pool_id, group_name=group, sub=sub))

        await self._write(run)

    async def remove_member(self, group: str, sub: str) -> None:
        statement = delete(members).where(members.c.pool_id == self.pool_id, members.c.group_name == group,
                                          members.c.sub == sub)
        await self._write(lambda conn: conn.execute(statement))

    async def members(self, group: str, offset: int, limit: int) -> list[UserRecord]:
        statement = (select(users).join(members, members.c.sub == users.c.sub)
                     .where(members.c.pool_id == self.pool_id, members.c.group_name == group)
                     .order_by(users.c.username_key).offset(offset).limit(limit))
        rows = await self.database.read(lambda conn: conn.execute(statement).all())
        return [_user(row) for row in rows]

    # --------------------------------------------------------------------------------- sessions

    async def create_session(self, session: SessionRecord, refresh_digest: str) -> None:
        statement = insert(sessions).values(refresh_digest=refresh_digest, **session.__dict__)
        await self._write(lambda conn: conn.execute(statement))

    async def session_by_refresh(self, refresh_digest: str) -> SessionRecord | None:
        statement = select(sessions).where(sessions.c.refresh_digest == refresh_digest)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        if row is None:
            return None
        return SessionRecord(row.origin_jti, row.sub, row.auth_time, row.expires_at, bool(row.revoked))

    async def session_revoked(self, origin_jti: str) -> bool:
        """True unless ``origin_jti`` names a live session (an unknown one counts as revoked)."""
        statement = select(sessions.c.revoked).where(sessions.c.origin_jti == origin_jti)
        row = await self.database.read(lambda conn: conn.execute(statement).first(), in_loop=True)
        return row is None or bool(row.revoked)

    async def revoke_sessions(self, sub: str) -> None:
        statement = update(sessions).where(sessions.c.sub == sub).values(revoked=True)
        await self._write(lambda conn: conn.execute(statement))

    # ---------------------------------------------------------------- codes and auth challenges

    async def put_code(self, sub: str, purpose: str, digest: str, expires_at: int) -> None:
        def run(conn: Connection) -> None:
            conn.execute(delete(codes).where(codes.c.sub == sub, codes.c.purpose == purpose))
            conn.execute(insert(codes).values(sub=sub, purpose=purpose, digest=digest, expires_at=expires_at,
                                              attempts=0))

        await self._write(run)

    async def code(self, sub: str, purpose: str) -> Pending | None:
        statement = select(codes).where(codes.c.sub == sub, codes.c.purpose == purpose)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        if row is None:
            return None
        return Pending(row.sub, row.purpose, row.digest, row.expires_at, row.attempts, {})

    async def spend_code_attempt(self, sub: str, purpose: str, max_attempts: int) -> Pending | None:
        """Count one guess *before* it is compared (so parallel guesses cannot share a turn); the
        code as it was, or None when there is none or its ``max_attempts`` are used up."""

        def run(conn: Connection) -> Pending | None:
            counted = conn.execute(update(codes).where(
                codes.c.sub == sub, codes.c.purpose == purpose, codes.c.attempts < max_attempts,
            ).values(attempts=codes.c.attempts + 1)).rowcount
            if not counted:
                return None
            row = conn.execute(select(codes).where(codes.c.sub == sub, codes.c.purpose == purpose)).first()
            return Pending(row.sub, row.purpose, row.digest, row.expires_at, row.attempts, {}) if row else None

        result: Pending | None = await self._write(run)
        return result

    async def delete_code(self, sub: str, purpose: str) -> None:
        statement = delete(codes).where(codes.c.sub == sub, codes.c.purpose == purpose)
        await self._write(lambda conn: conn.execute(statement))

    async def put_challenge(self, pending: Pending) -> None:
        values = {**pending.__dict__, "data": json.dumps(pending.data)}
        await self._write(lambda conn: conn.execute(insert(challenges).values(**values)))

    async def challenge(self, digest: str) -> Pending | None:
        statement = select(challenges).where(challenges.c.digest == digest)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        if row is None:
            return None
        return Pending(row.sub, row.kind, row.digest, row.expires_at, row.attempts, json.loads(row.data))

    async def update_challenge(self, digest: str, *, attempts: int | None = None,
                               data: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {}
        if attempts is not None:
            values["attempts"] = attempts
        if data is not None:
            values["data"] = json.dumps(data)
        statement = update(challenges).where(challenges.c.digest == digest).values(**values)
        await self._write(lambda conn: conn.execute(statement))

    async def delete_challenge(self, digest: str, now: int) -> None:
        # Expired challenges of anyone are swept at the same time.
        statement = delete(challenges).where((challenges.c.digest == digest) | (challenges.c.expires_at < now))
        await self._write(lambda conn: conn.execute(statement))

    # --------------------------------------------------------------------------------- throttle

    async def begin_attempt(self, key: str, now: int, lock_for: Callable[[int], int]) -> bool:
        """Count an attempt as a failure up front (a success clears it), unless ``key`` is locked.

        False while locked; else the count goes up and ``lock_for(failures)`` sets the new
        locked-until time. Counting first means parallel attempts cannot all slip in before the
        lock: the ones past the limit are refused without being checked.
        """

        def run(conn: Connection) -> bool:
            row = conn.execute(select(throttle).where(throttle.c.key == key)).first()
            if row is not None and row.locked_until > now:
                return False
            failures = (row.failures if row is not None else 0) + 1
            locked_until = lock_for(failures)
            if row is None:
                conn.execute(insert(throttle).values(key=key, failures=failures, locked_until=locked_until))
            else:
                conn.execute(update(throttle).where(throttle.c.key == key)
                             .values(failures=failures, locked_until=locked_until))
            return True

        result: bool = await self._write(run)
        return result

    async def clear_failures(self, key: str) -> None:
        await self._write(lambda conn: conn.execute(delete(throttle).where(throttle.c.key == key)))

    # ------------------------------------------------------------------------------------- keys

    async def signing_key(self) -> tuple[str, str] | None:
        statement = select(keys.c.kid, keys.c.private_key).where(keys.c.pool_id == self.pool_id)
        row = await self.database.read(lambda conn: conn.execute(statement).first())
        return (row.kid, row.private_key) if row is not None else None

    async def add_signing_key(self, kid: str, sealed_private_key: str, now: int) -> None:
        statement = insert(keys).values(pool_id=self.pool_id, kid=kid, private_key=sealed_private_key, created_at=now)
        await self._write(lambda conn: conn.execute(statement))
