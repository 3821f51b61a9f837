"""``[auth.user_pool]``: the built-in pool's identity, token lifetimes, MFA and password hashing.

    [auth.user_pool]
    pool_id = "us-east-1_Trellis1"      # default: <region>_Trellis1
    region = "us-east-1"
    client_id = "..."                  # the app client id; default derived from pool_id (stable)
    issuer_base = "https://auth.example.com"   # default http://<server host>:<port>
    mfa = "OFF"                        # OFF | OPTIONAL | ON (TOTP)
    auto_verified_attributes = ["email"]
    account_id = "123456789012"        # for the pool ARN; default [auth.iam] account_id
    access_token_minutes = 60          # also the ID token's lifetime
    refresh_token_days = 30
    scrypt_n = 32768                   # password hashing cost (n, r, p); never below n=2**14 in production
    scrypt_r = 8
    scrypt_p = 1
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import ConfigError, Problem
from auth.userpool.passwords import ScryptParams

_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_CLIENT_ID = re.compile(r"[\w+]{1,128}")
MFA_MODES = ("OFF", "OPTIONAL", "ON")
_KEYS = {
    "pool_id", "region", "client_id", "issuer_base", "mfa", "auto_verified_attributes", "account_id",
    "access_token_minutes", "refresh_token_days", "scrypt_n", "scrypt_r", "scrypt_p",
}


@dataclass(frozen=True)
class UserPoolConfig:
    pool_id: str
    region: str
    client_id: str
    issuer_base: str
    account_id: str = "000000000000"
    mfa: str = "OFF"
    auto_verified_attributes: tuple[str, ...] = ("email",)
    access_token_seconds: int = 3600
    refresh_token_seconds: int = 30 * 86400
    scrypt: ScryptParams = field(default_factory=ScryptParams)

    @property
    def issuer(self) -> str:
        return f"{self.issuer_base.rstrip('/')}/{self.pool_id}"

    @property
    def arn(self) -> str:
        return f"arn:aws:cognito-idp:{self.region}:{self.account_id}:userpool/{self.pool_id}"

    @property
    def jwks_path(self) -> str:
        return f"/{self.pool_id}/.well-known/jwks.json"


def default_client_id(pool_id: str) -> str:
    """26 characters like a Cognito app client id, stable for a pool id (a public client: not a secret)."""
    digest = int.from_bytes(hashlib.sha256(f"trellis app client {pool_id}".encode()).digest(), "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(26):
        digest, index = divmod(digest, 36)
        chars.append(alphabet[index])
    return "".join(chars)


def _positive_int(table: Mapping[str, Any], key: str, default: int, problems: list[Problem], where: str | None) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(Problem(f"auth.user_pool: {key} must be a positive integer, got {value!r}", file=where))
        return default
    return value


def parse_user_pool(table: Mapping[str, Any], *, host: str, port: int, iam_account: str | None,
                    where: str | None) -> UserPoolConfig:
    problems = [Problem(f"auth.user_pool: unknown key {k!r}", file=where) for k in sorted(set(table) - _KEYS)]
    region = str(table.get("region", "us-east-1"))
    if not _REGION.fullmatch(region):
        problems.append(Problem(f"auth.user_pool: region {region!r} is not like 'us-east-1'", file=where))
    pool_id = str(table.get("pool_id", f"{region}_Trellis1"))
    if not _POOL_ID.fullmatch(pool_id) or len(pool_id) > 55:
        problems.append(Problem(f"auth.user_pool: pool_id {pool_id!r} is not like 'us-east-1_Trellis1'", file=where))
    client_id = str(table.get("client_id", default_client_id(pool_id)))
    if not _CLIENT_ID.fullmatch(client_id):
        problems.append(Problem(f"auth.user_pool: client_id {client_id!r} must be 1-128 word characters", file=where))
    mfa = str(table.get("mfa", "OFF")).upper()
    if mfa not in MFA_MODES:
        problems.append(Problem(f"auth.user_pool: mfa must be one of {', '.join(MFA_MODES)}, got {mfa!r}", file=where))
    verified = table.get("auto_verified_attributes", ["email"])
    if not isinstance(verified, list) or not set(verified) <= {"email", "phone_number"}:
        problems.append(Problem("auth.user_pool: auto_verified_attributes may name 'email' and 'phone_number'",
                                file=where))
        verified = []
    issuer_base = str(table.get("issuer_base", f"http://{host}:{port}"))
    if not issuer_base.startswith(("http://", "https://")):
        problems.append(Problem(f"auth.user_pool: issuer_base {issuer_base!r} must be an http(s) URL", file=where))
    minutes = _positive_int(table, "access_token_minutes", 60, problems, where)
    days = _positive_int(table, "refresh_token_days", 30, problems, where)
    n = _positive_int(table, "scrypt_n", ScryptParams.n, problems, where)
    r = _positive_int(table, "scrypt_r", ScryptParams.r, problems, where)
    p = _positive_int(table, "scrypt_p", ScryptParams.p, problems, where)
    if n & (n - 1) or n < 2:
        problems.append(Problem(f"auth.user_pool: scrypt_n must be a power of two, got {n}", file=where))
    if problems:
        raise ConfigError(problems)
    return UserPoolConfig(
        pool_id=pool_id, region=region, client_id=client_id, issuer_base=issuer_base,
        account_id=str(table.get("account_id", iam_account or "000000000000")), mfa=mfa,
        auto_verified_attributes=tuple(verified), access_token_seconds=minutes * 60,
        refresh_token_seconds=days * 86400, scrypt=ScryptParams(n, r, p),
    )
