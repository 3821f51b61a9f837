"""GraphQL over HTTP at ``/graphql``, per the GraphQL-over-HTTP spec, in AppSync's error shape.

* POST with ``application/json`` (a JSON object, or an array for a batch); GET with the
  parameters in the query string (queries only: a mutation over GET is 405).
* ``Accept: application/graphql-response+json`` gets that media type and 4xx for request errors;
  ``application/json`` (or no Accept) gets 200 for every well-formed request, as the spec says.
* Body size, batch size and the API key are checked before anything is parsed.
* A browser asking for HTML gets GraphiQL (Strawberry's page).
* Every error body, whatever the status, is ``{"errors": [...]}`` in AppSync's shape; a failure
  inside Trellis itself is a 500 with ``InternalFailure`` and no detail (it is logged instead).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.error_format import INTERNAL_MESSAGE, format_error, format_trellis_error
from app.errors import BadRequestError, QueryLimitError, TrellisError, UnauthorizedError
from app.execution import GraphQLRequest
from app.observability import Metrics, log_request
from app.operation import execute_operation
from app.runtime import Runtime
from auth.base import AuthRequest
from auth.modes import Identity
from resolvers.context import RequestInfo

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
UNAUTHORIZED_MESSAGE = "You are not authorized to make this call."
# What each Accept media range we can satisfy maps to; anything else is not acceptable.
_ACCEPTABLE = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}

log = logging.getLogger("trellis.http")


class _Outcome(NamedTuple):
    status: int
    body: dict[str, Any]
    operation_type: str
    operation_name: str | None = None


class _Reject(Exception):
    """A request refused before execution, with its status and AppSync-shaped error."""

    def __init__(self, status: int, error: TrellisError, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error
        self.headers = dict(headers or {})


def _media_type(request: Request) -> str | None:
    """Pick the response type from Accept; ``None`` means nothing we can produce is acceptable."""
    accept = request.headers.get("accept")
    if not accept:
        return JSON
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        kind = pieces[0].lower()
        quality = 1.0
        for param in pieces[1:]:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # out of range, or NaN: a weight RFC 9110 does not allow
                    quality = 0.0
        candidate = _ACCEPTABLE.get(kind)
        if candidate is None or quality <= 0:
            continue
        rank = quality + (0.001 if candidate == GRAPHQL_RESPONSE else 0)
        if best is None or rank > best[0]:
            best = (rank, candidate)
    return best[1] if best else None


def _json_response(
    body: Any, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=f"{media_type}; charset=utf-8", headers=headers)


def _parse_request(raw: Any) -> GraphQLRequest:
    if not isinstance(raw, Mapping):
        raise _Reject(400, BadRequestError("A GraphQL request must be a JSON object"))
    query = raw.get("query")
    if not isinstance(query, str):
        raise _Reject(400, BadRequestError("The request has no GraphQL query string ('query')"))
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, Mapping):
        raise _Reject(400, BadRequestError("'variables' must be a JSON object"))
    operation_name = raw.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _Reject(400, BadRequestError("'operationName' must be a string"))
    extensions = raw.get("extensions")
    if extensions is not None and not isinstance(extensions, Mapping):
        raise _Reject(400, BadRequestError("'extensions' must be a JSON object"))
    return GraphQLRequest(query, variables, operation_name, extensions)


def _loads(text: str | bytes, what: str) -> Any:
    """Decode JSON, or reject the request with 400.

    ``RecursionError`` is caught too: a body of a few thousand nested brackets exhausts the
    decoder's stack long before the body limit is reached, and must not become a 500.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Reject(400, BadRequestError(f"{what} is not valid JSON")) from exc


def _auth_request(request: Request, read_body: Callable[[Request], Awaitable[bytes]]) -> AuthRequest:
    client = request.client
    return AuthRequest(
        method=request.method,
        path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        headers=request.headers,
        read_body=lambda: read_body(request),
        source_ip=client.host if client else None,
    )


def _json_param(params: Mapping[str, str], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        return None
    return _loads(value, f"'{name}'")


def _wants_graphiql(request: Request) -> bool:
    """A browser opening /graphql: a GET asking for HTML, with no operation to run."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def _error_body(error: TrellisError) -> dict[str, Any]:
    return {"errors": [format_trellis_error(error)]}


class GraphQLEndpoint:
    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.limits = runtime.settings.limits

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        if _wants_graphiql(request):
            return self._graphiql()
        accepted = _media_type(request)
        # Error bodies for a client that accepts neither type still go out as application/json.
        media_type = accepted or JSON
        try:
            return await self._handle(request, accepted, media_type, started)
        except _Reject as reject:
            self._record(None, "none", reject.status, started, [reject.error.error_type])
            return _json_response(_error_body(reject.error), reject.status, media_type, reject.headers)
        except Exception:
            # A bug in Trellis (resolver errors never get here: graphql-core turns them into
            # field errors). Log it whole; tell the client nothing about its insides.
            log.exception("unhandled error serving %s /graphql", request.method)
            internal = TrellisError(INTERNAL_MESSAGE, error_type="InternalFailure")
            self._record(None, "none", 500, started, [internal.error_type])
            return _json_response(_error_body(internal), 500, media_type)

    async def _handle(
        self, request: Request, accepted: str | None, media_type: str, started: float
    ) -> Response:
        if request.method not in ("GET", "POST"):
            error = BadRequestError(f"Method {request.method} is not allowed")
            raise _Reject(405, error, {"Allow": "GET, POST"})
        try:
            identity = await self.runtime.authenticator.authenticate(_auth_request(request, self._body))
        except UnauthorizedError as exc:
            raise _Reject(401, exc) from exc
        if accepted is None:
            raise _Reject(406, BadRequestError(f"Acceptable media types are {GRAPHQL_RESPONSE} and {JSON}"))
        batch, requests = await self._read(request)

        # Starlette's Headers is a read-only mapping already; copying it per request costs more
        # than most resolvers that read it.
        host = request.headers.get("host")
        scope_request = RequestInfo(headers=request.headers, domain_name=host.split(":")[0] if host else None)
        outcomes = [await self._run_one(r, request.method, scope_request, media_type, identity) for r in requests]
        body: Any
        if batch:
            # Each operation's errors are in its own result; the batch itself succeeded.
            status, body = 200, [outcome.body for outcome in outcomes]
        else:
            status, body = outcomes[0].status, outcomes[0].body
        error_types = [e.get("errorType") or "" for o in outcomes for e in o.body.get("errors", ())]
        first = outcomes[0]
        self._record(first.operation_name, first.operation_type, status, started, error_types)
        headers = {"Allow": "POST"} if status == 405 else None
        return _json_response(body, status, media_type, headers)

    def _record(self, name: str | None, op_type: str, status: int, started: float,
                error_types: list[str]) -> None:
        seconds = time.perf_counter() - started
        self.metrics.observe(op_type, status, seconds, error_types)
        log_request(operation_name=name, operation_type=op_type, status=status, seconds=seconds,
                    error_types=error_types)

    def _graphiql(self) -> Response:
        from strawberry.http.ides import get_graphql_ide_html

        return HTMLResponse(get_graphql_ide_html("graphiql"))

    async def _read(self, request: Request) -> tuple[bool, list[GraphQLRequest]]:
        if request.method == "GET":
            params = request.query_params
            raw = {
                "query": params.get("query"),
                "operationName": params.get("operationName") or None,
                "variables": _json_param(params, "variables"),
                "extensions": _json_param(params, "extensions"),
            }
            return False, [_parse_request(raw)]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise _Reject(415, BadRequestError(f"Content-Type must be {JSON}"))
        raw_body = _loads(await self._body(request), "The request body")
        if isinstance(raw_body, list):
            if not raw_body:
                raise _Reject(400, BadRequestError("An empty batch has nothing to run"))
            if len(raw_body) > self.limits.max_batch:
                maximum = self.limits.max_batch
                message = f"Batch of {len(raw_body)} operations exceeds the maximum of {maximum}"
                raise _Reject(400, QueryLimitError(message))
            return True, [_parse_request(r) for r in raw_body]
        return False, [_parse_request(raw_body)]

    async def _body(self, request: Request) -> bytes:
        """The body, read once (SigV4 may need it before the GraphQL request is parsed)."""
        cached: bytes | None = request.scope.get("trellis.body")
        if cached is None:
            cached = request.scope["trellis.body"] = await self._read_body(request)
        return cached

    async def _read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        too_big = _Reject(413, QueryLimitError(f"Request body exceeds {limit} bytes"))
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise too_big
            return await request.body()  # the server enforces Content-Length framing
        chunks = bytearray()
        async for chunk in request.stream():
            chunks.extend(chunk)
            if len(chunks) > limit:
                raise too_big
        return bytes(chunks)

    async def _run_one(
        self, graphql_request: GraphQLRequest, method: str, info: RequestInfo, media_type: str, identity: Identity
    ) -> _Outcome:
        """Run one operation: its HTTP status, response body, and what ran (for logs and metrics)."""
        # Under application/json every well-formed request gets 200; the newer media type
        # uses 4xx when the request fails before execution (parse, validation, coercion).
        request_error_status = 400 if media_type == GRAPHQL_RESPONSE else 200
        executor = self.runtime.executor
        prepared = executor.prepare(graphql_request.query)
        debug = self.runtime.settings.debug
        if prepared.document is None:
            formatted = [format_error(e, debug) for e in prepared.errors]
            return _Outcome(request_error_status, {"errors": formatted}, "invalid")
        op_type = executor.operation_type(prepared, graphql_request.operation_name)
        if op_type is None:
            error = BadRequestError("Could not determine which operation to run: give a valid operationName")
            return _Outcome(request_error_status, _error_body(error), "invalid")
        # The operation that ran: the one asked for, or the document's only one.
        name = graphql_request.operation_name
        if name is None and len(prepared.operations) == 1:
            name = next(iter(prepared.operations))
        if method == "GET" and op_type is not OperationType.QUERY:
            error = BadRequestError(f"{op_type.value} operations must use POST")
            return _Outcome(405, _error_body(error), op_type.value, name)
        if op_type is OperationType.SUBSCRIPTION:
            error = BadRequestError("Subscriptions are served over WebSocket, not HTTP POST")
            return _Outcome(request_error_status, _error_body(error), op_type.value, name)
        result = await execute_operation(self.runtime, prepared, graphql_request, info, identity)
        errors = result.errors or []
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = [format_error(e, debug) for e in errors]
        # Variable coercion failed before execution started: a request error, not a field error.
        request_error = result.data is None and bool(errors) and all(e.path is None for e in errors)
        if request_error and media_type == GRAPHQL_RESPONSE:
            body.pop("data")
            return _Outcome(400, body, op_type.value, name)
        return _Outcome(200, body, op_type.value, name)
