"""Build the API's authenticator from the ``[auth]`` config table.

    [auth]
    default = "API_KEY"                       # the default mode
    additional = ["OPENID_CONNECT"]           # further modes, as on AppSync

    [auth.openid_connect]                     # issuer, client_id (a regex), iat_ttl_ms, auth_ttl_ms,
    issuer = "https://idp.example.com"        # jwks_url, allowed_algorithms, leeway

    [auth.cognito_user_pools]                 # user_pool_id (+ region) or issuer, app_id_client_regex,
    user_pool_id = "eu-west-1_AbCdEf"         # jwks_url, allowed_algorithms, leeway

    [auth.iam]                                # region, account_id, api_id (name the field ARNs),
                                              # directory (users, roles...; default data_dir/iam.json)
    region = "us-east-1"

    [auth.lambda]                             # function or datasource, ttl_seconds,
    function = "myapp.auth:authorize"         # identity_validation_expression, timeout_seconds

    [auth.user_pool]                          # the built-in user pool (auth/userpool/config.py);
    mfa = "OPTIONAL"                          # its tokens serve AMAZON_COGNITO_USER_POOLS

Without ``[auth]`` the API uses API_KEY alone. ``TRELLIS_ADMIN_ACCESS_KEY_ID`` and
``TRELLIS_ADMIN_SECRET_ACCESS_KEY`` register an administrator access key (full access) for
AWS_IAM. Modes whose verification is not built yet are a start-up error, never silently open.
AWS_LAMBDA is tried only for an ``Authorization`` value no other configured mode claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import ConfigError, Problem
from auth.api_keys import ApiKeyAuthorizer, ApiKeyStore
from auth.base import Authenticator, Authorizer
from auth.iam_authorizer import IamAuthorizer, StaticCredentials, administrator
from auth.jwt_authorizer import JwtAuthorizer
from auth.jwt_verifier import CognitoConfig, JwtVerifier, OidcConfig
from auth.lambda_authorizer import LambdaAuthorizer
from auth.lambda_config import build_lambda_authorizer
from auth.modes import AuthMode
from auth.userpool.authorizer import UserPoolAuthorizer
from auth.userpool.pool import UserPool

_SECTIONS = {AuthMode.OPENID_CONNECT: "openid_connect", AuthMode.AMAZON_COGNITO_USER_POOLS: "cognito_user_pools"}
_NOT_YET: set[AuthMode] = set()
_IAM_KEYS = {"region", "account_id", "api_id", "directory"}


def _mode(value: Any, problems: list[Problem], where: str | None) -> AuthMode | None:
    try:
        return AuthMode(str(value))
    except ValueError:
        known = ", ".join(m.value for m in AuthMode)
        problems.append(Problem(f"auth: unknown mode {value!r} (known: {known})", file=where))
        return None


def _token_config(mode: AuthMode, table: Mapping[str, Any]) -> OidcConfig | CognitoConfig:
    values = dict(table)
    if "allowed_algorithms" in values:
        values["allowed_algorithms"] = tuple(values["allowed_algorithms"])
    if mode is AuthMode.OPENID_CONNECT:
        return OidcConfig(**values)
    return CognitoConfig(**values)


def _iam(table: Any, admin_key: tuple[str, str] | None, problems: list[Problem], where: str | None) -> IamAuthorizer:
    table = table if isinstance(table, Mapping) else {}
    problems.extend(Problem(f"auth.iam: unknown key {k!r}", file=where) for k in sorted(set(table) - _IAM_KEYS))
    region = str(table.get("region", "us-east-1"))
    account = str(table.get("account_id", "000000000000"))
    credentials = {}
    if admin_key is not None:
        credentials[admin_key[0]] = administrator(admin_key[0], admin_key[1], account)
    return IamAuthorizer(StaticCredentials(credentials), region, account, str(table.get("api_id", "trellis")))


def build_authenticator(auth: Mapping[str, Any], api_keys: ApiKeyStore, where: str | None,
                        admin_key: tuple[str, str] | None = None,
                        datasources: Mapping[str, Any] | None = None,
                        user_pool: UserPool | None = None) -> Authenticator:
    """``admin_key``: (access key id, secret) from ``TRELLIS_ADMIN_*``; full access under AWS_IAM.
    ``datasources``: the configured data sources, for ``[auth.lambda] datasource = ...``.
    ``user_pool``: the built-in pool (``[auth.user_pool]``), whose tokens AMAZON_COGNITO_USER_POOLS
    accepts beside (or without) an external ``[auth.cognito_user_pools]``."""
    problems: list[Problem] = []
    unknown = set(auth) - {"default", "additional", "iam", "lambda", "user_pool", *_SECTIONS.values()}
    problems.extend(Problem(f"auth: unknown key {k!r}", file=where) for k in sorted(unknown))
    names = [auth.get("default", AuthMode.API_KEY.value), *auth.get("additional", [])]
    modes = [m for m in (_mode(n, problems, where) for n in names) if m is not None]
    authorizers: list[Authorizer] = []
    for mode in dict.fromkeys(modes):
        if mode in _NOT_YET:
            problems.append(Problem(f"auth: mode {mode.value} is not available in this Trellis version", file=where))
        elif mode is AuthMode.API_KEY:
            authorizers.append(ApiKeyAuthorizer(api_keys))
        elif mode is AuthMode.AWS_IAM:
            authorizers.append(_iam(auth.get("iam"), admin_key, problems, where))
        elif mode is AuthMode.AWS_LAMBDA:
            lambda_authorizer = build_lambda_authorizer(auth.get("lambda"), auth.get("iam"), datasources or {},
                                                        problems, where)
            if lambda_authorizer is not None:
                authorizers.append(lambda_authorizer)
        else:
            section = _SECTIONS[mode]
            table = auth.get(section)
            if mode is AuthMode.AMAZON_COGNITO_USER_POOLS and user_pool is not None:
                authorizers.append(UserPoolAuthorizer(user_pool))
                if table is None:
                    continue
            if not isinstance(table, Mapping):
                problems.append(Problem(f"auth: mode {mode.value} needs an [auth.{section}] table", file=where))
                continue
            try:
                config = _token_config(mode, table)
            except ConfigError as exc:
                problems.extend(Problem(f"auth.{section}: {p.message}", file=where) for p in exc.problems)
                continue
            except TypeError as exc:
                problems.append(Problem(f"auth.{section}: {exc}", file=where))
                continue
            issuer = config.issuer if isinstance(config, OidcConfig) else config.effective_issuer
            authorizers.append(JwtAuthorizer(mode, JwtVerifier(config), issuer))
    if problems:
        raise ConfigError(problems)
    for authorizer in authorizers:
        if isinstance(authorizer, LambdaAuthorizer):  # never handed another mode's credential
            authorizer.others = [a for a in authorizers if a is not authorizer]
    return Authenticator(authorizers)
