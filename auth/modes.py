"""The AppSync authorization modes, and the identity a request authenticated as."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AuthMode(StrEnum):
    API_KEY = "API_KEY"
    AWS_IAM = "AWS_IAM"
    OPENID_CONNECT = "OPENID_CONNECT"
    AMAZON_COGNITO_USER_POOLS = "AMAZON_COGNITO_USER_POOLS"
    AWS_LAMBDA = "AWS_LAMBDA"


@dataclass(frozen=True)
class Identity:
    """Who made a request, and through which mode.

    ``appsync`` is the ``ctx.identity`` a resolver sees, in AppSync's shape for the mode (AppSync
    gives API-key requests no identity at all, hence ``None``). ``groups`` feeds
    ``@aws_cognito_user_pools(cognito_groups:)`` checks.
    """

    mode: AuthMode
    appsync: Mapping[str, Any] | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    # IAM: whether this principal's policies allow a field (``appsync:GraphQL`` on its ARN), and
    # a key under which those answers may be cached (None when they depend on the request).
    field_policy: Callable[[str, str], bool] | None = field(default=None, compare=False)
    policy_cache_key: str | None = None
    # IAM: an ``encodedAuthorizationMessage`` saying why a field was denied (for DecodeAuthorizationMessage).
    explain_denial: Callable[[str, str], str | None] | None = field(default=None, compare=False)
    # AWS_LAMBDA: the fields the authorizer function's ``deniedFields`` named, as (Type, field).
    denied_fields: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    # Token modes: the credential's own expiry (epoch seconds); subscriptions it authorised end then.
    expires_at: float | None = None
