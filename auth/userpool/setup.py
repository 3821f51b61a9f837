"""Wire the built-in pool into a running Trellis: one call each from ``app.runtime``.

``user_pool_from_settings``: the pool when ``[auth.user_pool]`` is present (else None);
``user_pool_service``: its ``AwsJsonService``, whose admin calls are checked against the AWS_IAM
authorizer's credential lookup (looked up per request: it is replaced when IAM is wired), or the
``TRELLIS_ADMIN_*`` key when the API has no AWS_IAM mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import ConfigError, Problem
from app.settings import Settings
from auth.base import Authenticator
from auth.iam_authorizer import IamAuthorizer, StaticCredentials, administrator
from auth.sigv4 import Credential, CredentialLookup
from auth.userpool.admin import AdminGate
from auth.userpool.config import parse_user_pool
from auth.userpool.pool import UserPool
from auth.userpool.service import UserPoolService
from datasources.sql import SqlDatabase


def user_pool_from_settings(settings: Settings, database: SqlDatabase) -> UserPool | None:
    table = settings.auth.get("user_pool")
    if table is None:
        return None
    where = str(settings.config_path) if settings.config_path else None
    if not isinstance(table, Mapping):
        raise ConfigError([Problem("auth: [auth.user_pool] must be a table", file=where)])
    iam = settings.auth.get("iam")
    account = str(iam["account_id"]) if isinstance(iam, Mapping) and "account_id" in iam else None
    config = parse_user_pool(table, host=settings.host, port=settings.port, iam_account=account, where=where)
    return UserPool(config, database, settings.pagination_secret)


class _IamLookup:
    """The AWS_IAM authorizer's lookup at the time of the request, else the administrator key alone."""

    def __init__(self, authenticator: Authenticator, fallback: CredentialLookup) -> None:
        self._authenticator = authenticator
        self._fallback = fallback

    def _current(self) -> Any:
        iam = next((a for a in self._authenticator.authorizers if isinstance(a, IamAuthorizer)), None)
        return iam.lookup if iam is not None else self._fallback

    async def find(self, access_key_id: str) -> Credential | None:
        credential: Credential | None = await self._current().find(access_key_id)
        return credential

    async def find_session(self, access_key_id: str, session_token: str) -> Credential | None:
        """STS session credentials, when the current lookup resolves them from their token."""
        current = self._current()
        find_session = getattr(current, "find_session", None)
        # Without it, a long-term key's credential is returned and verify() refuses the stray token.
        credential: Credential | None = await (find_session(access_key_id, session_token) if find_session
                                               else current.find(access_key_id))
        return credential


def user_pool_service(pool: UserPool, authenticator: Authenticator, settings: Settings) -> UserPoolService:
    admin = settings.admin_access_key
    credentials = {admin[0]: administrator(admin[0], admin[1], pool.config.account_id)} if admin else {}
    lookup = _IamLookup(authenticator, StaticCredentials(credentials))
    return UserPoolService(pool, AdminGate(lookup, pool.config.region))
