"""``arn:aws:states:::http:invoke`` — Step Functions' HTTP Task, behind Trellis's SSRF guard.

Parameters (AWS's names)::

    ApiEndpoint       "https://api.example.com/v1/customers"          required
    Method            GET | POST | PUT | DELETE | PATCH | OPTIONS | HEAD  required
    Headers           {"name": "value", ...}
    QueryParameters   {"name": "value" | [values], ...}                 appended to the endpoint's query
    RequestBody       any JSON, sent as JSON (a string as it is); Content-Type application/json unless set
    Transform         {"RequestBodyEncoding": "URL_ENCODED",
                       "RequestEncodingOptions": {"ArrayFormat": "INDICES" | "REPEAT" | "COMMAS" | "BRACKETS"}}
    Authentication    {"ConnectionArn": "..."}  (or InvocationConfig) accepted and only logged

The result is AWS's shape: ``{"Headers": {name: [values]}, "ResponseBody": ..., "StatusCode": 200,
"StatusText": "OK"}`` — header names lower-case, the body parsed when the response is JSON and
text otherwise. A status outside 2xx fails the task with ``States.Http.StatusCode.<code>`` and that
same shape, as JSON, for cause; a timeout or a connection that cannot be made fails it with
``States.Http.Socket``. Step Functions itself gives up on an HTTP Task after 60 seconds; that is the
default timeout here too. A response body over the state payload quota (256 KiB) fails the task
with ``States.DataLimitExceeded``. (The conformance recordings hold no HTTP Task, so the exact
cause texts of these failures are Trellis's own.)

Where Trellis differs from AWS, on purpose:

* There are no EventBridge connections, so ``ConnectionArn`` adds no credentials. Put them in
  ``Headers`` instead — which is why ``Authorization`` is allowed there (on AWS the connection
  supplies it).
* The SSRF guard of the ``http`` data source (``datasources.http``) applies: unless the runner is
  built with ``allow_private_addresses``, a host that resolves to a loopback, private, link-local
  or otherwise non-public address fails the task with ``Trellis.Http.ForbiddenAddress`` before
  anything is sent. Redirects are never followed (a 3xx is a non-2xx status to the task).
* ``https`` is required, as on AWS, unless the runner is built with ``allow_plain_http``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import httpx

from app.errors import ForbiddenAddressError
from datasources.http import PinnedTransport, Resolver, resolve_public_addresses
from workflows.engine.records import JSON, dumps
from workflows.engine.tasks import TaskRegistry, TaskRequest, string_field
from workflows.errors import StatesError

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
ARRAY_FORMATS = ("INDICES", "REPEAT", "COMMAS", "BRACKETS")
BODY_ENCODINGS = ("NONE", "URL_ENCODED")
DEFAULT_TIMEOUT_SECONDS = 60.0           # Step Functions' own limit for one HTTP Task call
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024  # Step Functions' payload quota: a larger result cannot be state data

SOCKET_ERROR = "States.Http.Socket"
STATUS_ERROR_PREFIX = "States.Http.StatusCode."
FORBIDDEN_ADDRESS_ERROR = "Trellis.Http.ForbiddenAddress"
DATA_LIMIT_ERROR = "States.DataLimitExceeded"

# Headers a definition may not set (AWS's HTTP Task list, less Authorization: see the docstring).
_FORBIDDEN_HEADERS = frozenset({
    "a-im", "accept-charset", "accept-datetime", "accept-encoding", "cache-control", "connection",
    "content-encoding", "content-length", "content-md5", "date", "expect", "forwarded", "from", "host",
    "http2-settings", "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
    "max-forwards", "origin", "pragma", "proxy-authorization", "referer", "server", "te", "trailer",
    "transfer-encoding", "upgrade", "via", "warning",
})
_FORBIDDEN_HEADER_PREFIXES = ("x-forwarded-", "x-amz-", "x-amzn-")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class HttpInvokeRunner:
    """Runs HTTP Tasks (request/response only, as on AWS).

    One ``httpx.AsyncClient`` serves every call, so connections are pooled; ``close`` releases it.
    ``resolver`` is the guard's address check, replaceable so tests can reach loopback through it.
    """

    patterns = frozenset({""})

    def __init__(
        self,
        *,
        allow_private_addresses: bool = False,
        allow_plain_http: bool = False,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        resolver: Resolver = resolve_public_addresses,
    ) -> None:
        self.allow_private_addresses = allow_private_addresses
        self.allow_plain_http = allow_plain_http
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        self._resolver = resolver
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    async def run(self, request: TaskRequest) -> JSON:
        call = _parse_call(request.payload, request.state_name, allow_plain_http=self.allow_plain_http)
        if call.connection_arn is not None:
            # Trellis has no EventBridge connections: the ARN is accepted so definitions port as
            # they are, and logged so nobody wonders where its credentials went.
            log.debug("HTTP Task %r: ignoring ConnectionArn %s", request.state_name, call.connection_arn)
        client = self._current_client()
        http_request = client.build_request(call.method, call.url, headers=call.headers, content=call.content)
        http_request.headers["User-Agent"] = f"Amazon|StepFunctions|HttpInvoke|{_region(request)}"
        status, reason, headers, body = await self._send(client, http_request, request)
        result = {"Headers": headers, "ResponseBody": body, "StatusCode": status, "StatusText": reason}
        if not 200 <= status < 300:
            raise StatesError(f"{STATUS_ERROR_PREFIX}{status}", dumps(result))
        return result

    async def close(self) -> None:
        client, loop = self._client, self._client_loop
        self._client = self._client_loop = None
        # A client from another (perhaps closed) loop cannot be closed from here; it is dropped.
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    # -- the client ---------------------------------------------------------------------------------

    def _current_client(self) -> httpx.AsyncClient:
        # Pooled connections belong to the event loop that opened them; a runner used from a new
        # loop (a restarted engine, each test) starts a fresh client rather than reuse dead ones.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            transport: httpx.AsyncBaseTransport = (
                httpx.AsyncHTTPTransport(retries=0)
                if self.allow_private_addresses
                else PinnedTransport(self._resolver)  # the data source's guard: check, then pin the address
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                follow_redirects=False,  # a redirect could lead past the guard
                trust_env=False,         # an environment proxy would connect for us, past the pinning
                timeout=httpx.Timeout(self.timeout_seconds),
                # Executions share the client: a cookie one endpoint sets must never reach the next call.
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
            self._client_loop = loop
        return self._client

    async def _send(self, client: httpx.AsyncClient, http_request: httpx.Request,
                    request: TaskRequest) -> tuple[int, str, dict[str, list[str]], JSON]:
        where = f"{http_request.method} {_origin(http_request.url)}{http_request.url.path}"
        try:
            # httpx's timeout is per phase; this bounds the whole call, lookup and body included.
            async with asyncio.timeout(self.timeout_seconds):
                response = await client.send(http_request, stream=True)
                try:
                    raw = await self._read_capped(response, request)
                finally:
                    await response.aclose()
        except ForbiddenAddressError as exc:
            raise StatesError(FORBIDDEN_ADDRESS_ERROR, f"{where}: {exc.message}") from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise StatesError(SOCKET_ERROR, f"{where}: no response within {self.timeout_seconds:g} seconds") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise StatesError(SOCKET_ERROR, f"{where}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:  # not the network: an unsupported scheme, a header httpx refuses...
            raise _runtime(request.state_name, f"The HTTP request could not be sent: {exc}") from exc
        # A server may leave the reason out (HTTP/2 always does): show the standard one, never "".
        reason = response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)
        return response.status_code, reason, _headers_of(response), _body_of(response, raw)

    async def _read_capped(self, response: httpx.Response, request: TaskRequest) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_response_bytes:
                raise StatesError(DATA_LIMIT_ERROR, f"The state/task '{request.resource.arn}' returned a result "
                                                    "with a size exceeding the maximum number of bytes service limit.")
        return bytes(body)


def register_http_runners(registry: TaskRegistry, **options: Any) -> HttpInvokeRunner:
    """Register ``http:invoke``; ``options`` go to ``HttpInvokeRunner``. The owner closes the runner."""
    runner = HttpInvokeRunner(**options)
    registry.register("http", "invoke", runner)
    return runner


# --- the request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """One HTTP Task's Parameters, checked and turned into what is sent."""

    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None
    connection_arn: str | None


def _parse_call(payload: JSON, state: str, *, allow_plain_http: bool) -> _Call:
    endpoint = string_field(payload, "ApiEndpoint", state)
    method = string_field(payload, "Method", state)
    assert isinstance(payload, Mapping)  # string_field has checked
    if method not in METHODS:
        raise _runtime(state, f"The value '{method}' of the field 'Method' is not one of {', '.join(METHODS)}.")
    url = _endpoint_url(endpoint, state, allow_plain_http=allow_plain_http)
    added = _query_pairs(payload.get("QueryParameters"), state)
    if added:  # appended: a name already in the endpoint's own query keeps its value there too
        url = url.copy_with(params=tuple(url.params.multi_items()) + tuple(added))
    headers = _headers(payload.get("Headers"), state)
    content = _body(payload, headers, state)
    return _Call(method, url, headers, content, _connection_arn(payload, state))


def _endpoint_url(endpoint: str, state: str, *, allow_plain_http: bool) -> httpx.URL:
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL as exc:
        raise _runtime(state, f"The value of the field 'ApiEndpoint' is not a valid URL: {exc}") from exc
    schemes = ("https", "http") if allow_plain_http else ("https",)
    if url.scheme not in schemes or not url.host:
        raise _runtime(state, "The value of the field 'ApiEndpoint' must be an "
                              f"{' or '.join(schemes)} URL with a host.")
    if url.userinfo:
        raise _runtime(state, "The value of the field 'ApiEndpoint' must not contain credentials; "
                              "send them in 'Headers'.")
    return url


def _query_pairs(query: JSON, state: str) -> list[tuple[str, str]]:
    if query is None:
        return []
    if not isinstance(query, Mapping):
        raise _runtime(state, "The field 'QueryParameters' must be an object.")
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            text = _scalar_text(item)
            if text is None:
                raise _runtime(state, f"The query parameter '{name}' must be a string, number, boolean "
                                      "or a list of them.")
            pairs.append((str(name), text))
    return pairs


def _headers(headers: JSON, state: str) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise _runtime(state, "The field 'Headers' must be an object.")
    result: dict[str, str] = {}
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in _FORBIDDEN_HEADERS or lower.startswith(_FORBIDDEN_HEADER_PREFIXES):
            raise _runtime(state, f"The header '{name}' is not allowed in an HTTP Task.")
        items = value if isinstance(value, list) else [value]
        texts = [_scalar_text(item) for item in items]
        if not _HEADER_NAME.match(str(name)) or any(t is None or _has_line_break(t) for t in texts):
            # The value stays out of the message: headers are where secrets travel.
            raise _runtime(state, f"The header '{name}' must have a valid name and single-line scalar values.")
        result[str(name)] = ",".join(t for t in texts if t is not None)
    return result


def _body(payload: Mapping[str, JSON], headers: dict[str, str], state: str) -> bytes | None:
    if "RequestBody" not in payload:
        return None
    body = payload["RequestBody"]
    encoding, array_format = _transform(payload.get("Transform"), state)
    if encoding == "URL_ENCODED":
        if not isinstance(body, Mapping):
            raise _runtime(state, "A URL_ENCODED 'RequestBody' must be an object.")
        _default_header(headers, "Content-Type", _FORM_CONTENT_TYPE)
        return form_encode(body, array_format).encode("ascii")
    # AWS sends the body as JSON by default; a string is taken to be the body's text already.
    _default_header(headers, "Content-Type", _JSON_CONTENT_TYPE)
    return body.encode("utf-8") if isinstance(body, str) else dumps(body).encode("utf-8")


def _transform(transform: JSON, state: str) -> tuple[str, str]:
    if transform is None:
        return "NONE", "INDICES"
    if not isinstance(transform, Mapping):
        raise _runtime(state, "The field 'Transform' must be an object.")
    encoding = transform.get("RequestBodyEncoding", "NONE")
    if encoding not in BODY_ENCODINGS:
        raise _runtime(state, "The value of 'Transform.RequestBodyEncoding' must be one of "
                              f"{', '.join(BODY_ENCODINGS)}.")
    options = transform.get("RequestEncodingOptions") or {}
    array_format = options.get("ArrayFormat", "INDICES") if isinstance(options, Mapping) else None
    if array_format not in ARRAY_FORMATS:
        raise _runtime(state, "The value of 'Transform.RequestEncodingOptions.ArrayFormat' must be one of "
                              f"{', '.join(ARRAY_FORMATS)}.")
    return str(encoding), str(array_format)


def _connection_arn(payload: Mapping[str, JSON], state: str) -> str | None:
    for field in ("Authentication", "InvocationConfig"):
        config = payload.get(field)
        if config is None:
            continue
        if not isinstance(config, Mapping) or not isinstance(config.get("ConnectionArn"), str):
            raise _runtime(state, f"The field '{field}' must be an object with a string 'ConnectionArn'.")
        return str(config["ConnectionArn"])
    return None


def _default_header(headers: dict[str, str], name: str, value: str) -> None:
    if not any(key.lower() == name.lower() for key in headers):
        headers[name] = value


# --- URL encoding ----------------------------------------------------------------------------------


def form_encode(body: Mapping[str, JSON], array_format: str = "INDICES") -> str:
    """``application/x-www-form-urlencoded`` text for ``body``, arrays in ``array_format``::

        INDICES   a[0]=x&a[1]=y      REPEAT    a=x&a=y
        BRACKETS  a[]=x&a[]=y        COMMAS    a=x,y

    Nested objects become ``outer[inner]=v``; ``null`` an empty value; booleans ``true``/``false``.
    Names and values are percent-encoded (RFC 3986); the structural brackets stay readable.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        _flatten(_escape(str(name)), value, array_format, pairs)
    return "&".join(f"{name}={value}" for name, value in pairs)


def _flatten(name: str, value: JSON, array_format: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{name}[{_escape(str(key))}]", item, array_format, out)
    elif isinstance(value, list):
        scalars = [_scalar_text(item) for item in value]
        if array_format == "COMMAS" and all(text is not None for text in scalars):
            if value:
                out.append((name, ",".join(_escape(text or "") for text in scalars)))
            return
        for index, item in enumerate(value):
            # COMMAS cannot join objects or arrays: those fall back to the default, INDICES.
            key = {"REPEAT": name, "BRACKETS": f"{name}[]"}.get(array_format, f"{name}[{index}]")
            _flatten(key, item, array_format, out)
    else:
        out.append((name, _escape(_scalar_text(value) or "")))


def _escape(text: str) -> str:
    return quote(text, safe="-_.~")


def _scalar_text(value: JSON) -> str | None:
    """The text a JSON scalar stands for in a URL or header; None for objects and arrays."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # 2.0 is the JSON number 2 to whoever wrote the definition, not Python's "2.0".
        return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


# --- the response ----------------------------------------------------------------------------------


def _headers_of(response: httpx.Response) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():  # names lower-cased, repeats kept apart
        headers.setdefault(name, []).append(value)
    return headers


def _body_of(response: httpx.Response, raw: bytes) -> JSON:
    text = raw.decode(response.charset_encoding or "utf-8", errors="replace")
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if text and (media_type == "application/json" or media_type.endswith("+json")):
        try:
            return json.loads(text)
        except ValueError:
            return text  # a server that says JSON and sends something else: keep what it sent
    return text


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _region(request: TaskRequest) -> str:
    parts = request.execution.execution_arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _runtime(state: str, detail: str) -> StatesError:
    return StatesError("States.Runtime", f"An error occurred while executing the state '{state}'. {detail}")
