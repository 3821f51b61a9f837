"""AWS_LAMBDA mode: a function decides, given the ``Authorization`` value and the operation.

As AppSync's Lambda authorizer: the function gets ``{authorizationToken, requestContext: {apiId,
accountId, requestId, queryString, operationName, variables}, requestHeaders}`` and answers
``{isAuthorized, resolverContext, deniedFields, ttlOverride}``.

* ``isAuthorized`` false, an answer of the wrong shape, an exception or a timeout (AppSync's 10 s)
  is a 401 — the authorizer fails closed, never with data.
* ``resolverContext`` becomes ``ctx.identity.resolverContext``.
* ``deniedFields`` (``Type.field`` or the field's full ARN) resolve to null with ``Unauthorized``.
* Answers are cached for ``ttl_seconds`` (``ttlOverride`` per answer; 0 = not cached), keyed by
  the token *and* the query text, so an answer that looked at the operation is never reused for a
  different one. Errors are never cached.

Which requests are Lambda requests: any ``Authorization`` value that no other configured mode
claims (not SigV4, not a JWT naming a configured issuer), so the function never sees, and can
never override, another mode's credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from app.errors import UnauthorizedError
from auth.base import UNAUTHORIZED_MESSAGE, Authorizer, AuthRequest
from auth.modes import AuthMode, Identity

MAX_TOKEN_CHARS = 2048  # AppSync's limit on a Lambda authorization token
MAX_CONTEXT_BYTES = 5 * 1024 * 1024  # AppSync's limit on resolverContext
MAX_TTL_SECONDS = 3600.0
# A batch is authorized operation by operation, before the batch limit is checked: bound the calls.
MAX_OPERATIONS = 100
_FIELD = re.compile(r"^([_A-Za-z][_0-9A-Za-z]*)\.([_A-Za-z][_0-9A-Za-z]*)$")
_FIELD_ARN = re.compile(
    r"^arn:aws:appsync:([^:]*):([^:]*):apis/([^/]+)/types/([_A-Za-z][_0-9A-Za-z]*)/fields/([_A-Za-z][_0-9A-Za-z]*)$"
)

AuthorizerFunction = Callable[[dict[str, Any]], Awaitable[Any]]
"""Calls the user's function (or function data source) with the event; returns its answer."""


@dataclass(frozen=True)
class ApiName:
    """What names this API in events and field ARNs (the ``[auth.iam]`` values)."""

    region: str = "us-east-1"
    account_id: str = "000000000000"
    api_id: str = "trellis"


@dataclass(frozen=True)
class Decision:
    authorized: bool
    resolver_context: Mapping[str, Any]
    denied_fields: frozenset[tuple[str, str]]
    ttl_override: float | None


class InvalidAnswerError(Exception):
    """The function answered something that is not an authorizer response."""


@dataclass(frozen=True)
class _Operation:
    query: str
    operation_name: str | None
    variables: Mapping[str, Any]


def call_function(function: Callable[..., Any]) -> AuthorizerFunction:
    """Sync functions run in a worker thread (they may block); async ones are awaited."""
    # The second test catches a callable object whose ``__call__`` is ``async def``.
    is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)

    async def invoke(event: dict[str, Any]) -> Any:
        result = await function(event) if is_async else await asyncio.to_thread(function, event)
        if inspect.isawaitable(result):
            result = await result
        return result

    return invoke


def parse_answer(raw: Any, api: ApiName) -> Decision:
    if not isinstance(raw, Mapping):
        raise InvalidAnswerError("the answer is not an object")
    authorized = raw.get("isAuthorized")
    if not isinstance(authorized, bool):
        raise InvalidAnswerError("'isAuthorized' is not a boolean")
    context = raw.get("resolverContext")
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        raise InvalidAnswerError("'resolverContext' is not an object")
    try:
        text = json.dumps(context)
    except (TypeError, ValueError) as exc:
        raise InvalidAnswerError("'resolverContext' is not JSON") from exc
    if len(text.encode()) > MAX_CONTEXT_BYTES:
        raise InvalidAnswerError("'resolverContext' is larger than 5 MB")
    entries = raw.get("deniedFields")
    if entries is None:
        entries = []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InvalidAnswerError("'deniedFields' is not a list of strings")
    ttl = raw.get("ttlOverride")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)
                            or not math.isfinite(ttl) or ttl < 0):
        raise InvalidAnswerError("'ttlOverride' is not a number of seconds")
    # A copy through JSON: resolvers get AppSync's plain JSON and cannot change a cached answer.
    copied: dict[str, Any] = json.loads(text)
    return Decision(authorized, copied, _denied(entries, api), None if ttl is None else float(ttl))


def _denied(entries: list[str], api: ApiName) -> frozenset[tuple[str, str]]:
    denied: set[tuple[str, str]] = set()
    for entry in entries:
        short = _FIELD.match(entry)
        if short is not None:
            denied.add((short.group(1), short.group(2)))
            continue
        arn = _FIELD_ARN.match(entry)
        if arn is None:
            # A deny we cannot read might have been meant for a field we would then serve.
            raise InvalidAnswerError(f"'deniedFields' entry {entry!r} is neither Type.field nor a field ARN")
        region, account, api_id, type_name, field_name = arn.groups()
        if (region, account, api_id) == (api.region, api.account_id, api.api_id):
            denied.add((type_name, field_name))
        # Another API's field (a shared authorizer): not ours to deny, as on AppSync.
    return frozenset(denied)


async def _operations(request: AuthRequest) -> list[_Operation]:
    """The operation(s) the request carries, for ``requestContext`` (best effort: the request
    itself is validated later; an unreadable one is authorized as an empty query, then refused)."""
    raw: Any
    if request.method == "GET":
        params = parse_qs(request.query_string)
        raw = {key: values[0] for key, values in params.items() if values}
        variables = raw.get("variables")
        if isinstance(variables, str):
            try:
                raw["variables"] = json.loads(variables)
            except (ValueError, RecursionError):
                raw["variables"] = None
    else:
        try:
            raw = json.loads(await request.read_body())
        except (ValueError, RecursionError):
            raw = None
    items = raw if isinstance(raw, list) and raw else [raw]
    operations = []
    for item in items:
        item = item if isinstance(item, Mapping) else {}
        query, name, variables = item.get("query"), item.get("operationName"), item.get("variables")
        operations.append(_Operation(
            query if isinstance(query, str) else "",
            name if isinstance(name, str) else None,
            variables if isinstance(variables, Mapping) else {},
        ))
    return operations


class LambdaAuthorizer:
    mode = AuthMode.AWS_LAMBDA

    def __init__(
        self,
        function: AuthorizerFunction,
        *,
        api: ApiName | None = None,
        ttl_seconds: float = 300.0,
        identity_validation_expression: str | None = None,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        cache_max_entries: int = 10_000,
    ) -> None:
        self.function = function
        self.api = api or ApiName()
        self.ttl_seconds = ttl_seconds
        self.validation = re.compile(identity_validation_expression) if identity_validation_expression else None
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.cache_max_entries = cache_max_entries
        self._cache: OrderedDict[bytes, tuple[float, Decision]] = OrderedDict()
        # The API's other modes: a credential one of them recognises is never sent to the function.
        self.others: Sequence[Authorizer] = ()

    def presents(self, request: AuthRequest) -> bool:
        if not request.headers.get("authorization"):
            return False
        return not any(other.presents(request) for other in self.others)

    async def authenticate(self, request: AuthRequest) -> Identity:
        token = request.headers.get("authorization", "")
        if len(token) > MAX_TOKEN_CHARS:
            raise self._refuse("the token is longer than 2048 characters")
        if self.validation is not None and not self.validation.fullmatch(token):
            raise self._refuse("the token does not match the identity validation expression")
        operations = await _operations(request)
        if len(operations) > MAX_OPERATIONS:
            raise self._refuse(f"a batch of more than {MAX_OPERATIONS} operations is not authorized")
        decisions = [await self._decide(token, operation, request) for operation in operations]
        if not all(d.authorized for d in decisions):
            raise self._refuse("the authorizer function did not authorize the request")
        denied = frozenset().union(*(d.denied_fields for d in decisions))
        # A batch is authorized operation by operation; the first answer's context is the identity.
        appsync = {"resolverContext": decisions[0].resolver_context}
        return Identity(AuthMode.AWS_LAMBDA, appsync, denied_fields=denied)

    async def _decide(self, token: str, operation: _Operation, request: AuthRequest) -> Decision:
        key = hashlib.sha256(f"{token}\x00{operation.query}".encode()).digest()
        cached = self._cache.get(key)
        if cached is not None:
            if self.clock() < cached[0]:
                self._cache.move_to_end(key)
                return cached[1]
            del self._cache[key]
        event = {
            "authorizationToken": token,
            "requestContext": {
                "apiId": self.api.api_id,
                "accountId": self.api.account_id,
                "requestId": str(uuid.uuid4()),
                "queryString": operation.query,
                "operationName": operation.operation_name,
                "variables": dict(operation.variables),
            },
            "requestHeaders": dict(request.headers),
        }
        try:
            raw = await asyncio.wait_for(self.function(event), self.timeout_seconds)
            decision = parse_answer(raw, self.api)
        except TimeoutError:
            raise self._refuse(f"the authorizer function timed out after {self.timeout_seconds:g} s") from None
        except InvalidAnswerError as exc:
            raise self._refuse(f"the authorizer function's answer is invalid: {exc}") from exc
        except Exception as exc:  # the function failed: fail closed, never a 500 with data
            raise self._refuse(f"the authorizer function failed: {type(exc).__name__}") from exc
        ttl = self.ttl_seconds if decision.ttl_override is None else min(decision.ttl_override, MAX_TTL_SECONDS)
        if ttl > 0 and self.cache_max_entries > 0:
            self._cache[key] = (self.clock() + ttl, decision)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_max_entries:
                self._cache.popitem(last=False)
        return decision

    @staticmethod
    def _refuse(reason: str) -> UnauthorizedError:
        # The reason is for logs and errorInfo; the client sees AppSync's plain refusal.
        return UnauthorizedError(UNAUTHORIZED_MESSAGE, error_info={"reason": reason})
