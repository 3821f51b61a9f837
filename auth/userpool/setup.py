"""Wire the built-in pool into a running Trellis: one call each from ``app.runtime``.

``user_pool_from_settings``: the pool when ``[auth.user_pool]`` is present (else None);
``user_pool_service``: its ``AwsJsonService``, whose admin calls are checked against the AWS_IAM
authorizer's credential lookup (looked up per request: it is replaced when IAM is wired), or the
``TRELLIS_ADMIN_*`` key when the API has no AWS_IAM mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.errors import ConfigError, Problem
from app.settings import Settings
from auth.base import Authenticator
from auth.service_credentials import service_credentials
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


def user_pool_service(pool: UserPool, authenticator: Authenticator, settings: Settings) -> UserPoolService:
    lookup = service_credentials(authenticator, settings.admin_access_key, pool.config.account_id)
    return UserPoolService(pool, AdminGate(lookup, pool.config.region))
