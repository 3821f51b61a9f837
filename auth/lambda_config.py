"""The ``[auth.lambda]`` table: which function authorizes AWS_LAMBDA requests, and how.

    [auth.lambda]
    function = "myapp.auth:authorize"          # in-process Python (sync or async), or
    # datasource = "authorizer"                # a configured ``kind = "function"`` data source
    ttl_seconds = 300                          # AppSync's authorizerResultTtlInSeconds (0 = no cache)
    identity_validation_expression = "^tok-"   # the token must match before the function is called
    timeout_seconds = 10                       # AppSync's limit for an authorizer

The API's name in events and field ARNs (``apiId``, ``accountId``, region) is the ``[auth.iam]``
table's, so ``deniedFields`` ARNs and IAM policies name fields alike.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from app.errors import Problem
from auth.lambda_authorizer import MAX_TTL_SECONDS, ApiName, AuthorizerFunction, LambdaAuthorizer, call_function
from datasources.base import Invocation

_KEYS = {"function", "datasource", "ttl_seconds", "identity_validation_expression", "timeout_seconds"}
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _import(path: str, problems: list[Problem], where: str | None) -> Callable[..., Any] | None:
    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for attr in attr_path.split("."):
            target = getattr(target, attr)
    except Exception as exc:  # noqa: BLE001 - any import failure is a config problem, reported with the rest
        problems.append(Problem(f"auth.lambda: function {path!r} cannot be loaded: {type(exc).__name__}: {exc}",
                                file=where))
        return None
    if not callable(target):
        problems.append(Problem(f"auth.lambda: function {path!r} is not callable", file=where))
        return None
    function: Callable[..., Any] = target
    return function


def _from_datasource(name: str, datasources: Mapping[str, Any], problems: list[Problem],
                     where: str | None) -> AuthorizerFunction | None:
    source = datasources.get(name)
    if source is None or getattr(source, "kind", None) != "function":
        problems.append(Problem(f"auth.lambda: datasource {name!r} is not a configured function data source",
                                file=where))
        return None

    async def invoke(event: dict[str, Any]) -> Any:
        return await source.invoke(Invocation(request=None, event=event))

    return invoke


def build_lambda_authorizer(table: Any, iam_table: Any, datasources: Mapping[str, Any],
                            problems: list[Problem], where: str | None) -> LambdaAuthorizer | None:
    if not isinstance(table, Mapping):
        problems.append(Problem("auth: mode AWS_LAMBDA needs an [auth.lambda] table", file=where))
        return None
    count = len(problems)
    problems.extend(Problem(f"auth.lambda: unknown key {k!r}", file=where) for k in sorted(set(table) - _KEYS))
    function_path, datasource = table.get("function"), table.get("datasource")
    if (function_path is None) == (datasource is None):
        problems.append(Problem('auth.lambda: give exactly one of function = "module:callable" or '
                                'datasource = "<function data source>"', file=where))
    ttl = table.get("ttl_seconds", 300)
    if not _number(ttl) or not 0 <= ttl <= MAX_TTL_SECONDS:
        problems.append(Problem("auth.lambda: ttl_seconds must be a number from 0 to 3600", file=where))
    timeout = table.get("timeout_seconds", 10)
    if not _number(timeout) or timeout <= 0:
        problems.append(Problem("auth.lambda: timeout_seconds must be a number greater than 0", file=where))
    expression = table.get("identity_validation_expression")
    if expression is not None:
        try:
            re.compile(str(expression))
        except re.error as exc:
            problems.append(Problem(f"auth.lambda: identity_validation_expression is not a regex: {exc}",
                                    file=where))
    invoke: AuthorizerFunction | None = None
    if function_path is not None and datasource is None:
        if not isinstance(function_path, str) or not _PATH.match(function_path):
            problems.append(Problem(f'auth.lambda: function {function_path!r} is not "module:callable"', file=where))
        else:
            function = _import(function_path, problems, where)
            invoke = call_function(function) if function is not None else None
    elif datasource is not None and function_path is None:
        invoke = _from_datasource(str(datasource), datasources, problems, where)
    if len(problems) > count or invoke is None:
        return None
    iam = iam_table if isinstance(iam_table, Mapping) else {}
    api = ApiName(str(iam.get("region", "us-east-1")), str(iam.get("account_id", "000000000000")),
                  str(iam.get("api_id", "trellis")))
    return LambdaAuthorizer(invoke, api=api, ttl_seconds=float(ttl), timeout_seconds=float(timeout),
                            identity_validation_expression=str(expression) if expression is not None else None)
