"""The ``http`` data source against a real uvicorn server on loopback, SSRF guard included."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.errors import ConfigError, DataSourceError, DataSourceTimeoutError, ForbiddenAddressError
from datasources import base, http
from datasources.base import Invocation

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Upstream:
    """A tiny upstream API that records every request it gets."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[tuple[str, str]] = []
        self.attempts: Counter[str] = Counter()
        self.release = asyncio.Event()  # lets /slow handlers finish when the test is over

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((request.method, path))
        self.attempts[path] += 1
        if path == "/echo":
            return JSONResponse(
                {
                    "method": request.method,
                    "query": [list(pair) for pair in request.query_params.multi_items()],
                    "headers": dict(request.headers),
                    "body": (await request.body()).decode(),
                },
                headers={"X-Echo": "Yes"},
            )
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return PlainTextResponse(f"status {code}", status_code=code, headers={"X-Reason": "teapot"})
        if path.startswith("/flaky/"):
            if self.attempts[path] <= int(request.query_params["fail"]):
                return PlainTextResponse("try again", status_code=503)
            return PlainTextResponse(f"ok on attempt {self.attempts[path]}")
        if path == "/slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 5)
            return PlainTextResponse("too late")
        if path == "/redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        if path == "/set-cookie":
            response = PlainTextResponse("cookie set")
            response.set_cookie("session", "user-a-secret")
            return response
        return PlainTextResponse("not found", status_code=404)


@contextlib.asynccontextmanager
async def serving(**config: Any) -> AsyncIterator[Upstream]:
    """Run an ``Upstream`` under uvicorn on a free loopback port until the block ends."""
    upstream = Upstream()
    app = Starlette(routes=[Route("/{path:path}", upstream.handle, methods=ALL_METHODS)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    upstream.port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", ws="none", http="h11", log_level="warning", **config)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # surfaces a start-up failure instead of spinning
            await asyncio.sleep(0.01)
        yield upstream
    finally:
        upstream.release.set()
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with serving() as upstream:
        yield upstream


@contextlib.asynccontextmanager
async def started(base_url: str, **options: Any) -> AsyncIterator[http.HttpDataSource]:
    source = http.build("api", {"kind": "http", "base_url": base_url, **options})
    await source.start()
    try:
        yield source
    finally:
        await source.close()


def call(method: str, path: str, **params: Any) -> Invocation:
    return Invocation(request={"method": method, "resourcePath": path, "params": params})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- requests and responses ------------------------------------------------------------------------


async def test_a_get_sends_default_and_request_headers_and_query_and_returns_appsyncs_shape(
    upstream: Upstream,
) -> None:
    async with started(
        upstream.url, headers={"X-Api-Key": "k1", "X-Both": "default"}, allow_private_addresses=True
    ) as s:
        result = await s.invoke(
            call(
                "GET",
                "/echo",
                headers={"X-Both": "request", "X-Num": 3},
                query={"q": "a b", "tag": ["x", "y"]},
            )
        )
    assert result["statusCode"] == 200
    assert result["headers"]["x-echo"] == "Yes"
    assert all(name == name.lower() for name in result["headers"])
    echoed = json.loads(result["body"])
    assert echoed["method"] == "GET"
    assert echoed["query"] == [["q", "a b"], ["tag", "x"], ["tag", "y"]]
    assert echoed["headers"]["x-api-key"] == "k1"
    assert echoed["headers"]["x-both"] == "request"
    assert echoed["headers"]["x-num"] == "3"


async def test_a_post_with_a_mapping_body_sends_json_with_a_json_content_type(upstream: Upstream) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        result = await s.invoke(call("POST", "/echo", body={"title": "Hello", "tags": [1, True]}))
    echoed = json.loads(result["body"])
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"title": "Hello", "tags": [1, True]}
    assert echoed["headers"]["content-type"] == "application/json"


async def test_a_string_body_is_sent_as_is_with_the_content_type_the_resolver_gave(
    upstream: Upstream,
) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        result = await s.invoke(call("PUT", "/echo", headers={"Content-Type": "text/csv"}, body="a,b\n1,2\n"))
    echoed = json.loads(result["body"])
    assert echoed["body"] == "a,b\n1,2\n"
    assert echoed["headers"]["content-type"] == "text/csv"


async def test_an_error_status_and_its_headers_come_back_to_the_resolver_unchanged(
    upstream: Upstream,
) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        result = await s.invoke(call("GET", "/status/418"))
    assert result["statusCode"] == 418
    assert result["body"] == "status 418"
    assert result["headers"]["x-reason"] == "teapot"
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"


async def test_a_head_request_answers_with_an_empty_body(upstream: Upstream) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        result = await s.invoke(call("HEAD", "/status/200"))
    assert result["statusCode"] == 200
    assert result["body"] == ""


async def test_a_cookie_set_for_one_caller_is_not_sent_with_the_next_request(upstream: Upstream) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        first = await s.invoke(call("GET", "/set-cookie"))
        second = await s.invoke(call("GET", "/echo"))
    assert "session=" in first["headers"]["set-cookie"]
    assert "cookie" not in json.loads(second["body"])["headers"]


# --- retries and timeouts --------------------------------------------------------------------------


async def test_a_get_is_retried_on_503_until_it_succeeds(upstream: Upstream) -> None:
    async with started(upstream.url, retries=2, allow_private_addresses=True) as s:
        result = await s.invoke(call("GET", "/flaky/get", query={"fail": 2}))
    assert result["statusCode"] == 200
    assert result["body"] == "ok on attempt 3"
    assert upstream.attempts["/flaky/get"] == 3


async def test_when_retries_run_out_the_last_5xx_response_is_returned(upstream: Upstream) -> None:
    async with started(upstream.url, retries=1, allow_private_addresses=True) as s:
        result = await s.invoke(call("DELETE", "/flaky/delete", query={"fail": 10}))
    assert result["statusCode"] == 503
    assert upstream.attempts["/flaky/delete"] == 2


async def test_a_post_is_never_retried_because_it_may_not_be_idempotent(upstream: Upstream) -> None:
    async with started(upstream.url, retries=3, allow_private_addresses=True) as s:
        result = await s.invoke(call("POST", "/flaky/post", query={"fail": 1}, body={"n": 1}))
    assert result["statusCode"] == 503
    assert upstream.attempts["/flaky/post"] == 1


async def test_a_slow_upstream_raises_a_timeout_naming_the_source_and_url_after_each_retry(
    upstream: Upstream,
) -> None:
    async with started(upstream.url, timeout_seconds=0.2, retries=1, allow_private_addresses=True) as s:
        with pytest.raises(DataSourceTimeoutError) as caught:
            await s.invoke(call("GET", "/slow", query={"token": "secret-query"}))
    message = caught.value.message
    assert "'api'" in message
    assert f"GET {upstream.url}/slow" in message
    assert "secret-query" not in message
    assert caught.value.error_type == "Timeout"
    assert upstream.attempts["/slow"] == 2


async def test_an_unreachable_upstream_is_a_data_source_error_that_does_not_leak_header_values() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    options = {
        "headers": {"Authorization": "Bearer secret-token"},
        "retries": 1,
        "allow_private_addresses": True,
    }
    async with started(url, **options) as s:
        with pytest.raises(DataSourceError) as caught:
            await s.invoke(call("GET", "/echo", headers={"X-Session": "secret-session"}))
    message = caught.value.message
    assert type(caught.value) is DataSourceError
    assert "'api'" in message
    assert f"{url}/echo" in message
    assert "2 attempts" in message
    assert "secret-token" not in message
    assert "secret-session" not in message


# --- the SSRF guard --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://LocalHost.:{port}",
        "http://api.localhost:{port}",
        "http://169.254.169.254",
        "http://metadata.google.internal",
        "http://[::1]:{port}",
        "http://[::ffff:127.0.0.1]:{port}",
        "http://2130706433:{port}",
        "http://0x7f.1:{port}",
        "http://127.1:{port}",
        "http://0.0.0.0:{port}",
        "http://10.0.0.1",
        "http://192.168.1.1",
        "http://[fe80::1]",
        "http://[fd00::1]",
    ],
)
async def test_internal_addresses_are_refused_by_default_before_any_request_is_sent(
    upstream: Upstream, base_url: str
) -> None:
    async with started(base_url.format(port=upstream.port), timeout_seconds=2) as s:
        with pytest.raises(ForbiddenAddressError) as caught:
            await s.invoke(call("GET", "/echo"))
    assert "'api'" in caught.value.message
    assert caught.value.error_type == "ForbiddenAddress"
    assert upstream.requests == []


async def test_allow_private_addresses_lets_requests_reach_the_loopback_server(upstream: Upstream) -> None:
    async with started(f"http://localhost:{upstream.port}", allow_private_addresses=True) as s:
        result = await s.invoke(call("GET", "/status/204"))
    assert result["statusCode"] == 204
    assert upstream.requests == [("GET", "/status/204")]


def pinned_source(port: int, resolver: http.Resolver, **options: Any) -> http.HttpDataSource:
    """A guarded source whose resolver is a stand-in, so the guarded path can reach loopback."""
    defaults: dict[str, Any] = {"headers": {}, "timeout_seconds": 2.0, "retries": 0}
    return http.HttpDataSource(
        "api",
        base_url=httpx.URL(f"http://api.invalid:{port}"),
        allow_private_addresses=False,
        resolver=resolver,
        **(defaults | options),
    )


async def test_with_the_guard_on_the_connection_goes_to_the_checked_address_with_the_original_host(
    upstream: Upstream,
) -> None:
    # ".invalid" never resolves, so reaching the server at all proves the name was not looked up
    # again after the check: the connection went to the address the resolver approved.
    async def resolver(host: str, port: int) -> list[http.IPAddress]:
        assert (host, port) == ("api.invalid", upstream.port)
        return [ipaddress.ip_address("127.0.0.1")]

    source = pinned_source(upstream.port, resolver)
    await source.start()
    try:
        result = await source.invoke(call("GET", "/echo"))
    finally:
        await source.close()
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["headers"]["host"] == f"api.invalid:{upstream.port}"


async def test_every_request_is_checked_again_so_a_rebound_name_is_refused(upstream: Upstream) -> None:
    answers = iter([None, "it resolves to a loopback address"])

    async def resolver(host: str, port: int) -> list[http.IPAddress]:
        refusal = next(answers)
        if refusal is not None:
            raise ForbiddenAddressError(f"refusing to connect to {host!r}: {refusal}")
        return [ipaddress.ip_address("127.0.0.1")]

    source = pinned_source(upstream.port, resolver, retries=2)
    await source.start()
    try:
        assert (await source.invoke(call("GET", "/status/200")))["statusCode"] == 200
        with pytest.raises(ForbiddenAddressError):
            await source.invoke(call("GET", "/status/200"))
    finally:
        await source.close()
    assert upstream.requests == [("GET", "/status/200")]


async def test_a_redirect_is_returned_to_the_resolver_and_never_followed(upstream: Upstream) -> None:
    async def resolver(host: str, port: int) -> list[http.IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    source = pinned_source(upstream.port, resolver)
    await source.start()
    try:
        target = "http://169.254.169.254/latest/meta-data/"
        result = await source.invoke(call("GET", "/redirect", query={"to": target}))
    finally:
        await source.close()
    assert result["statusCode"] == 302
    assert result["headers"]["location"] == target
    assert upstream.requests == [("GET", "/redirect")]


async def test_the_first_unreachable_checked_address_falls_back_to_the_next(upstream: Upstream) -> None:
    async def resolver(host: str, port: int) -> list[http.IPAddress]:
        return [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]

    # 127.0.0.2 is loopback too but nothing listens on it at this port, so the connect is refused.
    source = pinned_source(upstream.port, resolver)
    await source.start()
    try:
        result = await source.invoke(call("GET", "/status/200"))
    finally:
        await source.close()
    assert result["statusCode"] == 200


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` only, with its key; the certificate is its own trust anchor."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_pinned_https_still_verifies_the_certificate_against_the_original_host_name(
    tmp_path: Path,
) -> None:
    cert_file, key_file = self_signed_certificate(tmp_path, "api.invalid")

    async def resolver(host: str, port: int) -> list[http.IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    trust = ssl.create_default_context(cafile=str(cert_file))
    async with serving(ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as tls_upstream:
        transport = http.PinnedTransport(resolver, lambda: httpx.AsyncHTTPTransport(verify=trust))
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            # The TCP connection goes to 127.0.0.1, yet TLS names api.invalid, so the cert matches...
            response = await client.get(f"https://api.invalid:{tls_upstream.port}/echo")
            assert response.status_code == 200
            assert response.json()["headers"]["host"] == f"api.invalid:{tls_upstream.port}"
            # ...and a name the certificate does not cover is still rejected, pinning or not.
            with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                await client.get(f"https://other.invalid:{tls_upstream.port}/echo")
    assert tls_upstream.requests == [("GET", "/echo")]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address to judge, not one to bind
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "2001:db8::1",
    ],
)
def test_internal_and_reserved_addresses_in_every_spelling_are_forbidden(address: str) -> None:
    assert http.forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"],
)
def test_public_addresses_are_allowed_even_when_embedded_in_ipv6(address: str) -> None:
    assert http.forbidden_reason(ipaddress.ip_address(address)) is None


# --- bad requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "echo",
        "//evil.example/echo",
        "/http://evil.example/",
        "/a/../echo",
        "/a/%2e%2e/echo",
        "/a/%2E%2E%2Fecho",
        "/a/%252e%252e/echo",
        "/a\\..\\echo",
        "/echo#fragment",
        "/echo with space",
        "/echo\r\nX-Injected: 1",
    ],
)
async def test_resource_paths_that_could_escape_the_base_url_are_refused(
    upstream: Upstream, path: str
) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        with pytest.raises(DataSourceError, match="resourcePath"):
            await s.invoke(call("GET", path))
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        ("GET /echo", "mapping"),
        ({"resourcePath": "/echo"}, "method"),
        ({"method": "TRACE", "resourcePath": "/echo"}, "method"),
        ({"method": "GET", "resourcePath": "/echo", "extra": 1}, "extra"),
        ({"method": "GET", "resourcePath": "/echo", "params": {"header": {}}}, "header"),
        ({"method": "GET", "resourcePath": "/echo", "params": {"headers": {"Host": "evil"}}}, "Host"),
        ({"method": "GET", "resourcePath": "/echo", "params": {"headers": {"X-A": "a\r\nX-B: b"}}}, "X-A"),
        ({"method": "GET", "resourcePath": "/echo", "params": {"query": {"q": {"nested": 1}}}}, "query"),
        ({"method": "POST", "resourcePath": "/echo", "params": {"body": {"x": float("nan")}}}, "JSON"),
    ],
)
async def test_malformed_requests_are_data_source_errors_and_send_nothing(
    upstream: Upstream, request_: Any, complaint: str
) -> None:
    async with started(upstream.url, allow_private_addresses=True) as s:
        with pytest.raises(DataSourceError, match=complaint):
            await s.invoke(Invocation(request=request_))
    assert upstream.requests == []


async def test_invoking_before_start_is_an_error() -> None:
    source = http.build("api", {"kind": "http", "base_url": "https://api.example.com"})
    with pytest.raises(DataSourceError, match="not started"):
        await source.invoke(call("GET", "/"))


# --- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "base_url"),
        ({"base_url": 42}, "base_url"),
        ({"base_url": "ftp://files.example.com"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": "https://user:pw@api.example.com"}, "base_url"),
        ({"base_url": "https://api.example.com/v1"}, "base_url"),
        ({"base_url": "https://api.example.com", "timeout_seconds": 0}, "timeout_seconds"),
        ({"base_url": "https://api.example.com", "timeout_seconds": "5"}, "timeout_seconds"),
        ({"base_url": "https://api.example.com", "retries": -1}, "retries"),
        ({"base_url": "https://api.example.com", "retries": True}, "retries"),
        ({"base_url": "https://api.example.com", "headers": "X-A: 1"}, "headers"),
        ({"base_url": "https://api.example.com", "headers": {"X-A": "1\r\nX-B: 2"}}, "headers"),
        ({"base_url": "https://api.example.com", "headers": {"Bad Name": "1"}}, "headers"),
        (
            {"base_url": "https://api.example.com", "allow_private_addresses": "yes"},
            "allow_private_addresses",
        ),
        ({"base_url": "https://api.example.com", "base_path": "/v1"}, "base_path"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_source_and_the_key(
    options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        http.build("api", {"kind": "http", **options})
    assert any("'api'" in p.message and key in p.message for p in caught.value.problems)


def test_every_config_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        http.build("api", {"kind": "http", "retries": -1, "timeout_seconds": -1, "colour": "red"})
    assert len(caught.value.problems) == 4


def test_good_config_gets_the_documented_defaults() -> None:
    source = http.build("api", {"kind": "http", "base_url": "https://api.example.com/"})
    assert (source.name, source.kind) == ("api", "http")
    assert (source.timeout_seconds, source.retries, source.allow_private_addresses) == (10.0, 2, False)
    assert isinstance(source, base.DataSource)


def test_the_http_kind_is_registered() -> None:
    assert base._FACTORIES["http"] is http.build
