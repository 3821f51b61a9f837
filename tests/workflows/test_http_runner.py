"""The HTTP Task runner (``arn:aws:states:::http:invoke``) against a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.errors import ForbiddenAddressError
from datasources.http import IPAddress
from workflows.engine.http_runner import HttpInvokeRunner, form_encode, register_http_runners
from workflows.engine.tasks import TaskRegistry, TaskRequest, parse_resource
from workflows.errors import StatesError
from workflows.language.interpreter import ExecutionInfo

HTTP_INVOKE = "arn:aws:states:::http:invoke"
EXECUTION = ExecutionInfo(
    execution_arn="arn:aws:states:eu-west-1:123456789012:execution:orders:run-1",
    name="run-1",
    input={},
    start_time=0.0,
    role_arn="arn:aws:iam::123456789012:role/sfn",
    state_machine_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:orders",
    state_machine_name="orders",
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Upstream:
    """A small API that records what it receives (served from a thread, shared by the module)."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # lets /slow answer once a test is over

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        seen = {"method": request.method, "path": request.url.path, "query": request.url.query,
                "pairs": [list(p) for p in request.query_params.multi_items()],
                "headers": dict(request.headers), "body": body}
        self.requests.append(seen)
        path = request.url.path
        if path == "/echo":
            return JSONResponse(seen, headers={"X-Echo": "yes"})
        if path == "/text":
            return PlainTextResponse("plain words", headers={"X-Multi": "one"})
        if path == "/multi":
            response = PlainTextResponse("")
            response.headers.append("X-Multi", "one")
            response.headers.append("X-Multi", "two")
            return response
        if path == "/problem+json":
            return Response('{"title": "typed"}', media_type="application/problem+json")
        if path == "/not-json":
            return Response("{broken", media_type="application/json")
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return JSONResponse({"message": f"status {code}"}, status_code=code)
        if path == "/redirect":
            return RedirectResponse("https://example.com/elsewhere", status_code=302)
        if path == "/big":
            return PlainTextResponse("x" * 5000)
        if path == "/slow":
            for _ in range(250):  # at most 5 s, however the test ends
                if self.release.is_set():
                    break
                await asyncio.sleep(0.02)
            return PlainTextResponse("too late")
        return PlainTextResponse("not found", status_code=404)


@pytest.fixture(scope="module")
def served() -> Iterator[Upstream]:
    upstream = Upstream()
    app = Starlette(routes=[Route("/{path:path}", upstream.handle, methods=METHODS)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    upstream.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", ws="none", http="h11", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the upstream server thread exited before it started"
        time.sleep(0.01)
    try:
        yield upstream
    finally:
        upstream.release.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def upstream(served: Upstream) -> Iterator[Upstream]:
    served.requests.clear()
    served.release.clear()
    yield served
    served.release.set()


@contextlib.asynccontextmanager
async def runner_with(**options: Any) -> AsyncIterator[HttpInvokeRunner]:
    runner = HttpInvokeRunner(**({"allow_private_addresses": True, "allow_plain_http": True} | options))
    try:
        yield runner
    finally:
        await runner.close()


@pytest.fixture
async def runner() -> AsyncIterator[HttpInvokeRunner]:
    async with runner_with() as runner:
        yield runner


def task(payload: Any, state: str = "CallApi") -> TaskRequest:
    resource = parse_resource(HTTP_INVOKE)
    assert resource is not None
    return TaskRequest(resource=resource, payload=payload, execution=EXECUTION, state_name=state, task_token=None)


async def failure(runner: HttpInvokeRunner, payload: Any) -> StatesError:
    with pytest.raises(StatesError) as caught:
        await runner.run(task(payload))
    return caught.value


# --- requests --------------------------------------------------------------------------------------


async def test_a_get_returns_awss_result_shape_with_the_json_body_parsed_and_header_values_in_lists(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    result = await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "GET",
                                    "Headers": {"X-Team": "orders"}, "QueryParameters": {"page": "2"}}))
    assert list(result) == ["Headers", "ResponseBody", "StatusCode", "StatusText"]
    assert (result["StatusCode"], result["StatusText"]) == (200, "OK")
    assert result["Headers"]["x-echo"] == ["yes"]
    assert result["Headers"]["content-type"] == ["application/json"]
    body = result["ResponseBody"]
    assert (body["method"], body["query"]) == ("GET", "page=2")
    assert body["headers"]["x-team"] == "orders"
    assert body["headers"]["user-agent"] == "Amazon|StepFunctions|HttpInvoke|eu-west-1"
    assert body["body"] == ""


async def test_query_parameters_are_appended_to_the_endpoints_own_query_and_lists_repeat_the_name(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo?fixed=1&tag=a", "Method": "GET",
                           "QueryParameters": {"tag": ["b", "c d"], "n": 2, "flag": True}}))
    assert upstream.requests[0]["pairs"] == [["fixed", "1"], ["tag", "a"], ["tag", "b"], ["tag", "c d"],
                                             ["n", "2"], ["flag", "true"]]


@pytest.mark.parametrize("method", METHODS)
async def test_every_method_aws_allows_is_sent_as_given(
    upstream: Upstream, runner: HttpInvokeRunner, method: str
) -> None:
    result = await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": method}))
    assert result["StatusCode"] == 200
    assert upstream.requests[0]["method"] == method
    if method == "HEAD":
        assert result["ResponseBody"] == ""


async def test_an_object_body_is_sent_as_json_with_a_json_content_type(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "POST",
                           "RequestBody": {"id": 7, "name": "Zoë", "tags": ["a"]}}))
    seen = upstream.requests[0]
    assert json.loads(seen["body"]) == {"id": 7, "name": "Zoë", "tags": ["a"]}
    assert seen["headers"]["content-type"] == "application/json; charset=UTF-8"


async def test_a_string_body_is_sent_as_it_is_and_a_content_type_header_given_wins(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "PUT", "RequestBody": "<a>1</a>",
                           "Headers": {"content-type": "application/xml"}}))
    seen = upstream.requests[0]
    assert (seen["body"], seen["headers"]["content-type"]) == ("<a>1</a>", "application/xml")


@pytest.mark.parametrize(
    ("array_format", "expected"),
    [
        (None, "id=1&tags%5B0%5D=a&tags%5B1%5D=b%20c"),
        ("INDICES", "id=1&tags%5B0%5D=a&tags%5B1%5D=b%20c"),
        ("REPEAT", "id=1&tags=a&tags=b%20c"),
        ("BRACKETS", "id=1&tags%5B%5D=a&tags%5B%5D=b%20c"),
        ("COMMAS", "id=1&tags=a,b%20c"),
    ],
)
async def test_a_url_encoded_body_is_form_encoded_with_the_array_format_asked_for(
    upstream: Upstream, runner: HttpInvokeRunner, array_format: str | None, expected: str
) -> None:
    transform: dict[str, Any] = {"RequestBodyEncoding": "URL_ENCODED"}
    if array_format is not None:
        transform["RequestEncodingOptions"] = {"ArrayFormat": array_format}
    await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "POST",
                           "RequestBody": {"id": 1, "tags": ["a", "b c"]}, "Transform": transform}))
    seen = upstream.requests[0]
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"
    # Starlette received the form as text; decode the brackets it would see.
    assert seen["body"] == expected.replace("%5B", "[").replace("%5D", "]")


def test_form_encoding_nests_objects_and_writes_null_booleans_and_special_characters_safely() -> None:
    body = {"user": {"name": "A&B=C", "admin": False}, "note": None, "n": 2.0,
            "rows": [{"x": 1}, {"x": 2}], "empty": []}
    assert form_encode(body) == (
        "user[name]=A%26B%3DC&user[admin]=false&note=&n=2&rows[0][x]=1&rows[1][x]=2"
    )
    assert form_encode({"a": ["x,y", "z"]}, "COMMAS") == "a=x%2Cy,z"
    assert form_encode({"rows": [{"x": 1}]}, "COMMAS") == "rows[0][x]=1"


async def test_the_connection_arn_is_accepted_and_adds_no_credentials(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    arn = "arn:aws:events:eu-west-1:123456789012:connection/Stripe/81210c42"
    for field in ("Authentication", "InvocationConfig"):
        result = await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "GET",
                                        field: {"ConnectionArn": arn}}))
        assert result["StatusCode"] == 200
    assert all("authorization" not in seen["headers"] for seen in upstream.requests)


async def test_an_authorization_header_is_allowed_because_trellis_has_no_connections(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "GET",
                           "Headers": {"Authorization": "Bearer t0ken"}}))
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer t0ken"


# --- responses -------------------------------------------------------------------------------------


async def test_a_text_response_body_stays_text(upstream: Upstream, runner: HttpInvokeRunner) -> None:
    result = await runner.run(task({"ApiEndpoint": f"{upstream.url}/text", "Method": "GET"}))
    assert result["ResponseBody"] == "plain words"
    assert result["Headers"]["content-type"] == ["text/plain; charset=utf-8"]


async def test_a_json_flavoured_media_type_is_parsed_but_broken_json_is_kept_as_text(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    typed = await runner.run(task({"ApiEndpoint": f"{upstream.url}/problem+json", "Method": "GET"}))
    broken = await runner.run(task({"ApiEndpoint": f"{upstream.url}/not-json", "Method": "GET"}))
    assert typed["ResponseBody"] == {"title": "typed"}
    assert broken["ResponseBody"] == "{broken"


async def test_a_repeated_response_header_keeps_every_value_in_order(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    result = await runner.run(task({"ApiEndpoint": f"{upstream.url}/multi", "Method": "GET"}))
    assert result["Headers"]["x-multi"] == ["one", "two"]


@pytest.mark.parametrize(("code", "text"), [(404, "Not Found"), (500, "Internal Server Error"), (429, "Too Many Requests")])
async def test_a_status_outside_2xx_fails_with_the_status_in_the_error_name_and_the_response_as_cause(
    upstream: Upstream, runner: HttpInvokeRunner, code: int, text: str
) -> None:
    error = await failure(runner, {"ApiEndpoint": f"{upstream.url}/status/{code}", "Method": "GET"})
    assert error.error == f"States.Http.StatusCode.{code}"
    assert error.cause is not None
    cause = json.loads(error.cause)
    assert (cause["StatusCode"], cause["StatusText"]) == (code, text)
    assert cause["ResponseBody"] == {"message": f"status {code}"}
    assert cause["Headers"]["content-type"] == ["application/json"]


async def test_a_redirect_is_not_followed_and_fails_as_a_3xx_status(
    upstream: Upstream, runner: HttpInvokeRunner
) -> None:
    error = await failure(runner, {"ApiEndpoint": f"{upstream.url}/redirect", "Method": "GET"})
    assert error.error == "States.Http.StatusCode.302"
    assert error.cause is not None
    assert json.loads(error.cause)["Headers"]["location"] == ["https://example.com/elsewhere"]
    assert len(upstream.requests) == 1


async def test_a_response_larger_than_the_payload_limit_fails_with_data_limit_exceeded(upstream: Upstream) -> None:
    async with runner_with(max_response_bytes=1000) as small:
        error = await failure(small, {"ApiEndpoint": f"{upstream.url}/big", "Method": "GET"})
    assert error.error == "States.DataLimitExceeded"
    assert "exceeding the maximum number of bytes service limit" in (error.cause or "")


async def test_a_refused_connection_fails_with_states_http_socket(runner: HttpInvokeRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        error = await failure(runner, {"ApiEndpoint": f"http://127.0.0.1:{port}/x", "Method": "GET"})
    assert error.error == "States.Http.Socket"
    assert f"GET http://127.0.0.1:{port}/x" in (error.cause or "")


async def test_no_response_within_the_timeout_fails_with_states_http_socket(upstream: Upstream) -> None:
    async with runner_with(timeout_seconds=0.2) as hasty:
        error = await failure(hasty, {"ApiEndpoint": f"{upstream.url}/slow", "Method": "GET"})
    assert error.error == "States.Http.Socket"
    assert "no response within 0.2 seconds" in (error.cause or "")


async def test_one_runner_serves_calls_from_successive_event_loops(upstream: Upstream) -> None:
    runner = HttpInvokeRunner(allow_private_addresses=True, allow_plain_http=True)

    async def once() -> int:
        return int((await runner.run(task({"ApiEndpoint": f"{upstream.url}/echo", "Method": "GET"})))["StatusCode"])

    # The test's own loop, then a second one: the pooled client of the first must not be reused.
    assert await once() == 200
    other = await asyncio.to_thread(asyncio.run, once())
    assert other == 200
    await runner.close()


# --- the SSRF guard --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254"])
async def test_the_guard_refuses_internal_addresses_by_default_before_anything_is_sent(
    upstream: Upstream, host: str
) -> None:
    port = upstream.port if host in ("127.0.0.1", "localhost") else 80
    async with runner_with(allow_private_addresses=False) as guarded:
        error = await failure(guarded, {"ApiEndpoint": f"http://{host}:{port}/echo", "Method": "GET"})
    assert error.error == "Trellis.Http.ForbiddenAddress"
    assert "refusing to connect" in (error.cause or "")
    assert upstream.requests == []


async def test_with_the_guard_on_the_request_goes_to_the_address_the_resolver_approved(upstream: Upstream) -> None:
    looked_up: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        looked_up.append((host, port))
        if host == "internal.invalid":
            raise ForbiddenAddressError(f"refusing to connect to {host!r}: it resolves to a private address")
        return [ipaddress.ip_address("127.0.0.1")]

    async with runner_with(allow_private_addresses=False, resolver=resolver) as guarded:
        # ".invalid" never resolves, so a response proves the pinned, approved address was used.
        result = await guarded.run(task({"ApiEndpoint": f"http://api.invalid:{upstream.port}/echo", "Method": "GET"}))
        refused = await failure(guarded, {"ApiEndpoint": f"http://internal.invalid:{upstream.port}/echo",
                                          "Method": "GET"})
    assert result["ResponseBody"]["headers"]["host"] == f"api.invalid:{upstream.port}"
    assert refused.error == "Trellis.Http.ForbiddenAddress"
    assert looked_up == [("api.invalid", upstream.port), ("internal.invalid", upstream.port)]
    assert len(upstream.requests) == 1


async def test_plain_http_is_refused_unless_allowed_as_aws_calls_only_https_apis(upstream: Upstream) -> None:
    async with runner_with(allow_plain_http=False) as strict:
        error = await failure(strict, {"ApiEndpoint": f"{upstream.url}/echo", "Method": "GET"})
    assert error.error == "States.Runtime"
    assert "must be an https URL" in (error.cause or "")
    assert upstream.requests == []


# --- bad parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"Method": "GET"}, "The field 'ApiEndpoint' is required and must be a string."),
        ({"ApiEndpoint": "http://x.test/"}, "The field 'Method' is required and must be a string."),
        ({"ApiEndpoint": "http://x.test/", "Method": "get"}, "The value 'get' of the field 'Method' is not one of"),
        ({"ApiEndpoint": "ftp://x.test/", "Method": "GET"}, "must be an https or http URL with a host"),
        ({"ApiEndpoint": "http://u:p@x.test/", "Method": "GET"}, "must not contain credentials"),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "Headers": {"X-Amz-Date": "now"}},
         "The header 'X-Amz-Date' is not allowed in an HTTP Task."),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "Headers": {"Host": "evil.test"}},
         "The header 'Host' is not allowed"),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "Headers": {"X-Ok": "a\r\nX-Injected: 1"}},
         "The header 'X-Ok' must have a valid name and single-line scalar values."),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "Headers": ["X-A"]}, "The field 'Headers' must be an object."),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "QueryParameters": {"q": {"nested": 1}}},
         "The query parameter 'q' must be a string"),
        ({"ApiEndpoint": "http://x.test/", "Method": "POST", "RequestBody": [1],
          "Transform": {"RequestBodyEncoding": "URL_ENCODED"}}, "A URL_ENCODED 'RequestBody' must be an object."),
        ({"ApiEndpoint": "http://x.test/", "Method": "POST", "RequestBody": {},
          "Transform": {"RequestBodyEncoding": "GZIP"}}, "'Transform.RequestBodyEncoding' must be one of NONE"),
        ({"ApiEndpoint": "http://x.test/", "Method": "POST", "RequestBody": {},
          "Transform": {"RequestBodyEncoding": "URL_ENCODED", "RequestEncodingOptions": {"ArrayFormat": "JSON"}}},
         "ArrayFormat' must be one of INDICES, REPEAT, COMMAS, BRACKETS"),
        ({"ApiEndpoint": "http://x.test/", "Method": "GET", "Authentication": {"ConnectionArn": 5}},
         "The field 'Authentication' must be an object with a string 'ConnectionArn'."),
    ],
)
async def test_bad_parameters_fail_with_states_runtime_naming_the_state_before_anything_is_sent(
    runner: HttpInvokeRunner, payload: dict[str, Any], detail: str
) -> None:
    error = await failure(runner, payload)
    assert error.error == "States.Runtime"
    assert (error.cause or "").startswith("An error occurred while executing the state 'CallApi'. ")
    assert detail in (error.cause or "")


# --- registration ----------------------------------------------------------------------------------


async def test_registering_makes_http_invoke_a_supported_request_response_resource() -> None:
    registry = TaskRegistry()
    runner = register_http_runners(registry, allow_private_addresses=True)
    resource = parse_resource(HTTP_INVOKE)
    assert resource is not None
    assert registry.runner_for(resource) is runner
    assert runner.allow_private_addresses is True
    assert registry.supports(HTTP_INVOKE)
    assert not registry.supports(HTTP_INVOKE + ".waitForTaskToken")
    await runner.close()
