"""The ``http`` data source: AppSync's HTTP resolver target, behind an SSRF guard.

A resolver's request step builds AppSync's request shape::

    {"method": "GET", "resourcePath": "/path", "params": {"headers": {...}, "query": {...}, "body": ...}}

and gets AppSync's response shape back: ``{"statusCode": int, "headers": {name: value}, "body": str}``.
The URL is always ``base_url``'s origin plus ``resourcePath``: a resolver picks the path, never the host.

SSRF guard (unless ``allow_private_addresses``): before each request the host is resolved and refused
if any address is loopback, link-local, private, unspecified, multicast, reserved or otherwise not
global, including such addresses embedded in IPv6 (IPv4-mapped, 6to4, NAT64). The request is then
sent to the checked address itself (``PinnedTransport``), with the original Host header and, for
https, the original name as SNI and for certificate checks, so a DNS answer that changes between
the check and the connect (DNS rebinding) cannot redirect it. Redirects are never followed: a 3xx
comes back to the resolver as a response, so a redirect cannot lead past the guard either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import unquote

import httpx

from app.errors import ConfigError, DataSourceError, DataSourceTimeoutError, ForbiddenAddressError, Problem
from datasources.base import Invocation, register_kind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""Resolves ``(host, port)`` to the addresses a request may connect to; raises to refuse."""

_OPTIONS = frozenset({"kind", "base_url", "headers", "timeout_seconds", "retries", "allow_private_addresses"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_STATUSES = frozenset({502, 503, 504})
_BACKOFF_SECONDS = 0.05  # attempt n waits 0.05 * 2**n: 0.05 s, 0.1 s, 0.2 s...
_MAX_RETRIES = 10
# Headers the transport owns: letting a resolver set them would desync framing or the Host/SNI pair.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_FORBIDDEN_HOSTNAMES = frozenset({"localhost", "metadata.google.internal"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REQUEST_KEYS = frozenset({"version", "method", "resourcePath", "params"})
_PARAM_KEYS = frozenset({"headers", "query", "body"})


# --- the guard -------------------------------------------------------------------------------------


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a request must not go to ``address``, or None if it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 form that carries an IPv4 address reaches that IPv4 host: judge the IPv4 one.
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return None if reason is None else f"{reason} (embedded in IPv6)"
        if address.is_site_local:
            return "site-local"
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-global"),  # e.g. 100.64.0.0/10 carrier-grade NAT
    )
    return next((label for hit, label in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def resolve_public_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, refusing if ANY of them is not public.

    All must pass, not just the first: the connection may use any of them, and a name with one
    public and one internal address is exactly what a rebinding attacker would publish.
    Odd IPv4 spellings (``2130706433``, ``0x7f.1``) are caught because getaddrinfo turns them
    into the address they mean before ``ipaddress`` judges it.
    """
    name = host.rstrip(".").lower()
    if name in _FORBIDDEN_HOSTNAMES or name.endswith(".localhost"):
        raise ForbiddenAddressError(f"refusing to connect to {host!r}: internal host name")
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # The scope ("%eth0") of a link-local IPv6 answer does not change what the address is.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = forbidden_reason(address)
        if reason is not None:
            # The address itself stays out of the message: clients see it, and it maps the inside.
            raise ForbiddenAddressError(f"refusing to connect to {host!r}: it resolves to a {reason} address")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"no IPv4 or IPv6 address for {host!r}")
    return addresses


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address ``resolve`` approved, never to a fresh lookup of the name.

    The URL handed to the inner transport carries the IP, so httpcore connects there without
    resolving again; the Host header stays as the client built it, and for https the original
    name goes in as SNI, which httpcore also uses to verify the certificate.

    httpcore pools connections by the URL's host, here the IP. Two names on one IP would then
    share a connection and the second name's certificate would never be checked, so every
    (scheme, name, port) gets a pool of its own from ``make_transport``.
    """

    def __init__(
        self,
        resolve: Resolver,
        make_transport: Callable[[], httpx.AsyncBaseTransport] = lambda: httpx.AsyncHTTPTransport(retries=0),
    ) -> None:
        self._resolve = resolve
        self._make_transport = make_transport
        self._pools: dict[tuple[str, str, int], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")
        port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:  # socket.gaierror included: a lookup failure is a connection failure
            raise httpx.ConnectError(f"cannot resolve {host!r}: {exc}", request=request) from exc
        extensions = dict(request.extensions)
        if url.scheme == "https" and not _is_ip_literal(host):
            extensions["sni_hostname"] = host
        pool = self._pools.get((url.scheme, host, port))
        if pool is None:
            pool = self._pools[(url.scheme, host, port)] = self._make_transport()
        last_error: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await pool.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent yet: the next address is safe to try
                last_error = exc
        assert last_error is not None  # the resolver returns at least one address
        raise last_error

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- the data source -------------------------------------------------------------------------------


class HttpDataSource:
    kind = "http"

    def __init__(
        self,
        name: str,
        *,
        base_url: httpx.URL,
        headers: Mapping[str, str],
        timeout_seconds: float,
        retries: int,
        allow_private_addresses: bool,
        resolver: Resolver = resolve_public_addresses,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.headers = dict(headers)
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.allow_private_addresses = allow_private_addresses
        self._resolver = resolver
        self._origin = f"{base_url.scheme}://{base_url.netloc.decode('ascii')}"
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is not None:
            return
        transport: httpx.AsyncBaseTransport = (
            httpx.AsyncHTTPTransport(retries=0)  # retries are ours, with the guard on each one
            if self.allow_private_addresses
            else PinnedTransport(self._resolver)
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            # trust_env=False: an environment proxy would connect on our behalf, past the pinning.
            trust_env=False,
            timeout=httpx.Timeout(self.timeout_seconds),
            # One client serves every caller: a cookie set for one must never be sent for another.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def invoke(self, invocation: Invocation) -> dict[str, Any]:
        if self._client is None:
            raise DataSourceError(f"data source {self.name!r} is not started")
        request = self._build_request(self._client, invocation.request)
        where = f"{request.method} {self._origin}{request.url.raw_path.split(b'?', 1)[0].decode('ascii')}"
        attempts = 1 + (self.retries if request.method in _IDEMPOTENT else 0)
        for attempt in range(attempts):
            final = attempt == attempts - 1
            try:
                # httpx's timeout is per phase; this one bounds the whole attempt, lookup included.
                async with asyncio.timeout(self.timeout_seconds):
                    response = await self._client.send(request)
            except ForbiddenAddressError as exc:
                raise ForbiddenAddressError(f"data source {self.name!r}: {exc.message}") from exc
            except (TimeoutError, httpx.TimeoutException) as exc:
                if final:
                    raise DataSourceTimeoutError(
                        f"data source {self.name!r}: {where} timed out after {self.timeout_seconds:g} s"
                        f" ({attempts} attempt{'s' if attempts > 1 else ''})"
                    ) from exc
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if final:
                    raise DataSourceError(
                        f"data source {self.name!r}: {where} failed after {attempts} "
                        f"attempt{'s' if attempts > 1 else ''}: {type(exc).__name__}: {exc}"
                    ) from exc
            except httpx.HTTPError as exc:  # not transient (bad header, unsupported protocol...)
                raise DataSourceError(
                    f"data source {self.name!r}: {where} failed: {type(exc).__name__}: {exc}"
                ) from exc
            else:
                if final or response.status_code not in _RETRY_STATUSES:
                    return {
                        "statusCode": response.status_code,
                        "headers": dict(response.headers.items()),  # lower-case names, repeats joined
                        "body": response.text,
                    }
            await asyncio.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _build_request(self, client: httpx.AsyncClient, spec: Any) -> httpx.Request:
        def bad(message: str) -> DataSourceError:
            return DataSourceError(f"data source {self.name!r}: bad request: {message}")

        if not isinstance(spec, Mapping):
            raise bad("expected a mapping with method and resourcePath")
        unknown = sorted(str(k) for k in spec if k not in _REQUEST_KEYS)
        if unknown:
            raise bad(f"unknown key(s) {', '.join(unknown)}")
        method = spec.get("method")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise bad(f"method must be one of {', '.join(sorted(_METHODS))}")
        path = spec.get("resourcePath")
        path_problem = resource_path_problem(path)
        if path_problem is not None:
            raise bad(path_problem)
        assert isinstance(path, str)
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise bad("params must be a mapping")
        unknown = sorted(str(k) for k in params if k not in _PARAM_KEYS)
        if unknown:
            raise bad(f"unknown params key(s) {', '.join(unknown)}")

        url = httpx.URL(self._origin + path)
        # Belt and braces: resource_path_problem already rules out anything that moves the origin.
        if (url.scheme, url.raw_host, url.port) != (
            self.base_url.scheme,
            self.base_url.raw_host,
            self.base_url.port,
        ):
            raise bad("resourcePath must not change the scheme, host or port")
        url = url.copy_merge_params(_query(params.get("query"), bad))

        headers = httpx.Headers(self.headers)
        headers.update(_headers(params.get("headers"), bad))
        content: bytes | None = None
        body = params.get("body")
        if isinstance(body, str):
            content = body.encode("utf-8")
        elif isinstance(body, bytes):
            content = body
        elif body is not None:
            try:
                content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise bad(f"body is not JSON-serialisable: {exc}") from exc
            headers.setdefault("content-type", "application/json")
        return client.build_request(method.upper(), url, headers=headers, content=content)


def resource_path_problem(path: Any) -> str | None:
    """What is wrong with a resourcePath, or None: it must be a plain absolute path on our host."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "resourcePath must be a string starting with '/'"
    if path.startswith("//") or "://" in path or "\\" in path:
        return "resourcePath must be a path, not a URL"
    if "#" in path or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path):
        return "resourcePath must not contain a fragment, spaces or control characters"
    for segment in path.split("?", 1)[0].split("/"):
        # Decode repeatedly: "%252e%252e" is ".." to a server that decodes twice.
        decoded = segment
        for _ in range(3):
            decoded = unquote(decoded)
        if any(part in (".", "..") for part in re.split(r"[/\\]", decoded)):
            return "resourcePath must not contain '.' or '..' segments"
    return None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"  # as the JSON the resolver wrote, not Python's "True"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _query(query: Any, bad: Callable[[str], DataSourceError]) -> tuple[tuple[str, str], ...]:
    if query is None:
        return ()
    if not isinstance(query, Mapping):
        raise bad("params.query must be a mapping")
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            text = _scalar(item)
            if not isinstance(key, str) or text is None:
                raise bad(f"params.query {key!r} must be a string, number, boolean or a list of them")
            pairs.append((key, text))
    return tuple(pairs)


def _headers(headers: Any, bad: Callable[[str], DataSourceError]) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise bad("params.headers must be a mapping")
    result: dict[str, str] = {}
    for key, value in headers.items():
        text = _scalar(value)
        if not isinstance(key, str) or not _HEADER_NAME.match(key) or text is None or _has_newline(text):
            # Only the name is named: header values are where tokens live.
            raise bad(f"params.headers {key!r} must be a valid name with a single-line scalar value")
        if key.lower() in _RESERVED_HEADERS:
            raise bad(f"params.headers {key!r} is set by Trellis itself")
        result[key] = text
    return result


def _has_newline(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


# --- config ----------------------------------------------------------------------------------------


def build(name: str, config: Mapping[str, Any]) -> HttpDataSource:
    """Validate an ``http`` data source's config table, reporting every problem at once."""
    problems: list[str] = [
        f"unknown option {key!r}" for key in sorted(map(str, config)) if key not in _OPTIONS
    ]

    base_url = _base_url(config.get("base_url"), problems)

    headers_value = config.get("headers", {})
    headers: dict[str, str] = {}
    if not isinstance(headers_value, Mapping):
        problems.append("headers: must be a table of header names to strings")
    else:
        for key, value in headers_value.items():
            if not isinstance(key, str) or not _HEADER_NAME.match(key):
                problems.append(f"headers: {key!r} is not a valid header name")
            elif key.lower() in _RESERVED_HEADERS:
                problems.append(f"headers: {key!r} is set by Trellis itself")
            elif not isinstance(value, str) or _has_newline(value):
                problems.append(f"headers: {key!r} must be a single-line string")
            else:
                headers[key] = value

    timeout = config.get("timeout_seconds", 10.0)
    if not _positive_number(timeout):
        problems.append("timeout_seconds: must be a number greater than 0")

    retries = config.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= _MAX_RETRIES:
        problems.append(f"retries: must be an integer from 0 to {_MAX_RETRIES}")

    allow_private = config.get("allow_private_addresses", False)
    if not isinstance(allow_private, bool):
        problems.append("allow_private_addresses: must be true or false")

    if problems or base_url is None:
        raise ConfigError([Problem(f"data source {name!r}: {p}") for p in problems])
    return HttpDataSource(
        name,
        base_url=base_url,
        headers=headers,
        timeout_seconds=float(timeout),
        retries=retries,
        allow_private_addresses=allow_private,
    )


def _positive_number(value: Any) -> bool:
    # bool is an int to Python, but "timeout_seconds = true" is a mistake, not one second.
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _base_url(value: Any, problems: list[str]) -> httpx.URL | None:
    if value is None:
        problems.append('base_url: required (e.g. "https://api.example.com")')
        return None
    if not isinstance(value, str):
        problems.append("base_url: must be a string")
        return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        problems.append(f"base_url: not a valid URL: {exc}")
        return None
    if url.scheme not in ("http", "https") or not url.raw_host:
        problems.append("base_url: must be an http:// or https:// URL with a host")
    elif url.userinfo:
        problems.append("base_url: must not contain credentials; put them in headers")
    elif url.path not in ("", "/") or url.query or url.fragment:
        # Only the origin is used: AppSync's resourcePath is the whole path, so a path here would
        # be silently dropped. Saying so is kinder.
        problems.append(
            "base_url: must be an origin only (no path, query or fragment): paths go in resourcePath"
        )
    else:
        return url
    return None


register_kind("http", build)
