"""The pool's tables (``trellis_userpool_*``); what each holds is described in ``store``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()
users = Table(
    "trellis_userpool_users", metadata,
    Column("sub", Text, primary_key=True),
    Column("pool_id", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("username_key", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("password_hash", Text),
    Column("mfa_secret", Text),
    Column("mfa_pending", Text),
    Column("mfa_enabled", Boolean, nullable=False),
    Column("totp_last_step", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("pool_id", "username_key"),
)
groups = Table(
    "trellis_userpool_groups", metadata,
    Column("pool_id", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("description", Text),
    Column("precedence", Integer),
    Column("role_arn", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
members = Table(
    "trellis_userpool_members", metadata,
    Column("pool_id", Text, primary_key=True),
    Column("group_name", Text, primary_key=True),
    Column("sub", Text, primary_key=True, index=True),
)
sessions = Table(
    "trellis_userpool_sessions", metadata,
    Column("origin_jti", Text, primary_key=True),
    Column("sub", Text, nullable=False, index=True),
    Column("refresh_digest", Text, unique=True),
    Column("auth_time", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False),
)
codes = Table(
    "trellis_userpool_codes", metadata,
    Column("sub", Text, primary_key=True),
    Column("purpose", Text, primary_key=True),
    Column("digest", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
)
challenges = Table(
    "trellis_userpool_challenges", metadata,
    Column("digest", Text, primary_key=True),
    Column("sub", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("data", Text, nullable=False),
)
throttle = Table(
    "trellis_userpool_throttle", metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
)
keys = Table(
    "trellis_userpool_keys", metadata,
    Column("pool_id", Text, primary_key=True),
    Column("kid", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
