"""GraphQL over HTTP at /graphql: status codes, media types, limits and AppSync's error shape.

Checks that touch stored data use the ``demo`` / ``database_url`` fixtures, so they run on SQLite
and PostgreSQL; pure HTTP checks run on one SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.limits import QueryLimits
from resolvers import util
from tests.conftest import API_KEY, Client

GRAPHQL_RESPONSE = "application/graphql-response+json"
APPSYNC_ERROR_KEYS = {"message", "errorType", "errorInfo", "path", "locations", "data"}
KEY = {"x-api-key": API_KEY}

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) { id email name }
}
"""
LIST_CUSTOMERS = "query { listCustomers { items { id email } } }"

TINY_SCHEMA = """
type Query {
  hello: String
  boom: String
  refused: String
}
"""
TINY_CONFIG = """
[resolvers."Query.hello"]
handler = "tests.test_http:hello"

[resolvers."Query.boom"]
handler = "tests.test_http:boom"

[resolvers."Query.refused"]
handler = "tests.test_http:refused"
"""


# -- resolvers bound by TINY_CONFIG ---------------------------------------------------------------


def hello(ctx: Any) -> str:
    return "world"


def boom(ctx: Any) -> str:
    raise RuntimeError("secret detail")


def refused(ctx: Any) -> str:
    util.error("Shelf 7 is locked", "ShelfLocked", data={"shelf": 7}, error_info={"retryAfterSeconds": 30})


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture
async def sqlite(make_client: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """Build a client on a SQLite file, for checks where the database does not matter."""

    async def build(**kwargs: Any) -> Client:
        client: Client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", **kwargs)
        return client

    return build


@pytest.fixture
async def http(sqlite: Callable[..., Any]) -> Client:
    """The demo app on SQLite."""
    client: Client = await sqlite()
    return client


@pytest.fixture
async def tiny(sqlite: Callable[..., Any]) -> Client:
    """A three-field schema whose resolvers are the functions above."""
    client: Client = await sqlite(schema=TINY_SCHEMA, config=TINY_CONFIG)
    return client


async def post_raw(client: Client, content: bytes | str, headers: dict[str, str] | None = None,
                   *, content_type: str | None = "application/json") -> httpx.Response:
    sent = dict(KEY)
    if content_type is not None:
        sent["content-type"] = content_type
    sent.update(headers or {})
    return await client.http.post("/graphql", content=content, headers=sent)


async def post_json(client: Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return await post_raw(client, json.dumps(body), headers)


def only_error(response: httpx.Response) -> dict[str, Any]:
    """The single AppSync-shaped error of a response (asserting that shape)."""
    body = response.json()
    assert isinstance(body, dict), body
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    assert set(error) == APPSYNC_ERROR_KEYS, error
    assert "Traceback" not in response.text
    return error


def assert_request_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    """A request refused before execution: the status, no data, one error of ``error_type``."""
    assert response.status_code == status, response.text
    assert "data" not in response.json(), response.text
    error = only_error(response)
    assert error["errorType"] == error_type, error
    return error


async def customer_count(client: Client) -> int:
    data = await client.data(LIST_CUSTOMERS)
    return len(data["listCustomers"]["items"])


async def assert_still_serving(client: Client) -> None:
    assert await client.data("{ __typename }") == {"__typename": "Query"}


# -- API key --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "da2-not-a-key-anyone-made"])
async def test_a_request_without_a_valid_api_key_is_401_unauthorized_with_no_data(
    http: Client, key: str | None
) -> None:
    headers = {} if key is None else {"x-api-key": key}
    response = await http.http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    error = assert_request_error(response, 401, "UnauthorizedException")
    assert error["message"] == "You are not authorized to make this call."
    assert response.headers["content-type"].startswith("application/json")


async def test_the_api_key_is_checked_before_the_body_is_read(sqlite: Callable[..., Any]) -> None:
    client = await sqlite(limits=QueryLimits(max_body_bytes=100))
    response = await client.http.post(
        "/graphql", content=b"x" * 1000, headers={"content-type": "application/json"}
    )
    assert_request_error(response, 401, "UnauthorizedException")


# -- methods --------------------------------------------------------------------------------------


async def test_a_query_over_get_returns_its_data(demo: Client) -> None:
    created = await demo.data('mutation { createProduct(input: {sku: "G-1", name: "Gauge", priceCents: 5}) { id } }')
    response = await demo.http.get(
        "/graphql",
        params={"query": "query One($id: ID!) { getProduct(id: $id) { name } }",
                "variables": json.dumps({"id": created["createProduct"]["id"]})},
        headers=KEY,  # the catalogue is public by API key
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"getProduct": {"name": "Gauge"}}}
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_a_mutation_over_get_is_405_with_an_allow_header_and_changes_nothing(demo: Client) -> None:
    mutation = 'mutation { createCustomer(input: {email: "bo@example.com", name: "Bo"}) { id } }'
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await demo.http.get("/graphql", params={"query": mutation}, headers={**KEY, "accept": accept})
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert only_error(response)["errorType"] == "BadRequestException"
    assert await customer_count(demo) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_http_methods_are_405_with_an_allow_header(http: Client, method: str) -> None:
    response = await http.http.request(method, "/graphql", json={"query": "{ __typename }"}, headers=KEY)
    assert_request_error(response, 405, "BadRequestException")
    assert response.headers["allow"] == "GET, POST"


async def test_a_subscription_over_http_is_refused(http: Client) -> None:
    response = await post_json(
        http, {"query": "subscription { onCreateCustomer { id } }"}, {"accept": GRAPHQL_RESPONSE}
    )
    error = assert_request_error(response, 400, "BadRequestException")
    assert "WebSocket" in error["message"]


# -- media types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/graphql", "application/x-www-form-urlencoded"]
)
async def test_a_post_whose_content_type_is_not_json_is_415(http: Client, content_type: str | None) -> None:
    response = await post_raw(http, json.dumps({"query": "{ __typename }"}), content_type=content_type)
    error = assert_request_error(response, 415, "BadRequestException")
    assert "application/json" in error["message"]


async def test_a_json_content_type_with_a_charset_is_accepted(http: Client) -> None:
    response = await post_raw(
        http, json.dumps({"query": "{ __typename }"}), content_type="application/json; charset=utf-8"
    )
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("query", "error_type"),
    [("{", "MalformedHttpRequestException"), ("{ noSuchField }", "ValidationError")],
    ids=["parse error", "validation error"],
)
async def test_graphql_response_json_gets_400_and_no_data_for_parse_and_validation_errors(
    http: Client, query: str, error_type: str
) -> None:
    response = await post_json(http, {"query": query}, {"accept": GRAPHQL_RESPONSE})
    assert_request_error(response, 400, error_type)
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/*"])
@pytest.mark.parametrize(
    ("query", "error_type"),
    [("{", "MalformedHttpRequestException"), ("{ noSuchField }", "ValidationError")],
    ids=["parse error", "validation error"],
)
async def test_application_json_gets_200_with_errors_for_parse_and_validation_errors(
    http: Client, query: str, error_type: str, accept: str | None
) -> None:
    headers = {"accept": accept} if accept else {}
    response = await post_json(http, {"query": query}, headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert only_error(response)["errorType"] == error_type


@pytest.mark.parametrize(
    "accept",
    ["text/plain", "application/xml", "text/html", f"{GRAPHQL_RESPONSE};q=0", "application/json; Q=0",
     "application/json;q=nan", "*/*;q=2"],
)
async def test_an_accept_header_naming_nothing_we_can_send_is_406(http: Client, accept: str) -> None:
    response = await post_json(http, {"query": "{ __typename }"}, {"accept": accept})
    error = assert_request_error(response, 406, "BadRequestException")
    assert GRAPHQL_RESPONSE in error["message"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.2, application/json", "application/json"),
        ("text/html, */*;q=0.1", "application/json"),
    ],
)
async def test_accept_negotiation_picks_the_preferred_media_type(http: Client, accept: str, chosen: str) -> None:
    response = await post_json(http, {"query": "{ __typename }"}, {"accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{chosen}; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}


# -- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b'{"query": ', b"{'query': '{ __typename }'}", b"\xff\xfe\x00garbage", b"[" * 100_000 + b"]" * 100_000],
    ids=["empty", "truncated", "single quotes", "not utf-8", "nested past the parser's stack"],
)
async def test_a_body_that_is_not_json_is_400(http: Client, content: bytes) -> None:
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await post_raw(http, content, {"accept": accept})
        error = assert_request_error(response, 400, "BadRequestException")
        assert "not valid JSON" in error["message"]
    await assert_still_serving(http)


@pytest.mark.parametrize(
    "body",
    [{}, {"query": None}, {"query": 5}, {"query": ["{ __typename }"]}, {"qeury": "{ __typename }"}, "query", 7],
)
async def test_a_request_without_a_query_string_is_400(http: Client, body: Any) -> None:
    response = await post_json(http, body)
    assert_request_error(response, 400, "BadRequestException")


async def test_a_get_without_a_query_is_400(http: Client) -> None:
    response = await http.http.get("/graphql", headers=KEY)
    assert_request_error(response, 400, "BadRequestException")


@pytest.mark.parametrize("variables", [[1, 2], "{}", 3, True])
async def test_variables_that_are_not_an_object_are_400(http: Client, variables: Any) -> None:
    response = await post_json(http, {"query": "{ __typename }", "variables": variables})
    error = assert_request_error(response, 400, "BadRequestException")
    assert "variables" in error["message"]


@pytest.mark.parametrize(
    ("field", "value"), [("operationName", 5), ("extensions", "yes")], ids=["operationName", "extensions"]
)
async def test_other_parameters_of_the_wrong_type_are_400(http: Client, field: str, value: Any) -> None:
    response = await post_json(http, {"query": "{ __typename }", field: value})
    assert_request_error(response, 400, "BadRequestException")


async def test_get_variables_that_are_not_json_are_400(http: Client) -> None:
    response = await http.http.get(
        "/graphql", params={"query": "{ __typename }", "variables": "{id: 1}"}, headers=KEY
    )
    error = assert_request_error(response, 400, "BadRequestException")
    assert "'variables'" in error["message"]


async def test_an_invalid_variable_value_is_a_validation_error_and_writes_nothing(demo: Client) -> None:
    bad = {"input": {"email": "not-an-email", "name": "Cy"}}
    response = await demo.post(CREATE_CUSTOMER, bad)
    assert response.status_code == 200, response.text
    assert response.json()["data"] is None
    error = only_error(response)
    assert error["errorType"] == "ValidationError"
    assert "$input" in error["message"]
    assert "AWSEmail" in error["message"]
    assert error["locations"] is not None

    strict = await demo.post(CREATE_CUSTOMER, bad, headers={"accept": GRAPHQL_RESPONSE})
    assert_request_error(strict, 400, "ValidationError")
    assert await customer_count(demo) == 0


async def test_operation_name_selects_one_of_several_operations(http: Client) -> None:
    document = "query A { a: __typename } query B { b: __typename }"
    chosen = await post_json(http, {"query": document, "operationName": "B"})
    assert chosen.json() == {"data": {"b": "Query"}}
    for name in (None, "C"):
        response = await post_json(http, {"query": document, "operationName": name}, {"accept": GRAPHQL_RESPONSE})
        error = assert_request_error(response, 400, "BadRequestException")
        assert "operationName" in error["message"]


# -- size limits and batches ----------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413(sqlite: Callable[..., Any]) -> None:
    client = await sqlite(limits=QueryLimits(max_body_bytes=200))
    small = json.dumps({"query": "{ __typename }"})
    big = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 300}})
    assert (await post_raw(client, small)).status_code == 200

    response = await post_raw(client, big)
    error = assert_request_error(response, 413, "QueryLimitExceeded")
    assert "200 bytes" in error["message"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b" " * 50

    streamed = await client.http.post(
        "/graphql", content=chunked(), headers={**KEY, "content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_request_error(streamed, 413, "QueryLimitExceeded")
    await assert_still_serving(client)


async def test_a_batch_of_two_operations_returns_an_array_of_two_results(demo: Client) -> None:
    await demo.data('mutation { createProduct(input: {id: "p9", sku: "P-9", name: "Pin", priceCents: 2}) { id } }')
    batch = [
        {"query": 'query { productBySku(sku: "P-9") { items { id name } } }'},
        {"query": "query { getProduct(id: \"p9\") { name } nope: __typename }"},
    ]
    response = await post_json(demo, batch)  # with the API key: both read the public catalogue
    assert response.status_code == 200, response.text
    first, second = response.json()
    assert first == {"data": {"productBySku": {"items": [{"id": "p9", "name": "Pin"}]}}}
    assert second == {"data": {"getProduct": {"name": "Pin"}, "nope": "Query"}}


async def test_each_operation_in_a_batch_reports_its_own_errors(http: Client) -> None:
    response = await post_json(http, [{"query": "{ __typename }"}, {"query": "{ noSuchField }"}])
    assert response.status_code == 200, response.text
    good, bad = response.json()
    assert good == {"data": {"__typename": "Query"}}
    assert [e["errorType"] for e in bad["errors"]] == ["ValidationError"]


async def test_a_batch_over_the_maximum_is_400_and_runs_nothing(
    make_client: Callable[..., Any], database_url: str
) -> None:
    client: Client = await make_client(database_url, limits=QueryLimits(max_batch=2))
    create = {"query": CREATE_CUSTOMER, "variables": {"input": {"email": "ed@example.com", "name": "Ed"}}}
    response = await post_json(client, [create, create, create])
    error = assert_request_error(response, 400, "QueryLimitExceeded")
    assert "maximum of 2" in error["message"]
    assert await customer_count(client) == 0


async def test_an_empty_batch_is_400(http: Client) -> None:
    assert_request_error(await post_json(http, []), 400, "BadRequestException")


DEEP_MUTATION = """
mutation {
  createCustomer(input: {email: "fay@example.com", name: "Fay"}) {
    orders { items { customer { orders { items { id } } } } }
  }
}
"""
ALIASED_MUTATION = """
mutation {
  a: createCustomer(input: {email: "a@example.com", name: "A"}) { id }
  b: createCustomer(input: {email: "b@example.com", name: "B"}) { id }
  c: createCustomer(input: {email: "c@example.com", name: "C"}) { id }
}
"""
LONG_MUTATION = """
mutation {
  createCustomer(input: {email: "gus@example.com", name: "Gus", phone: null, address: null}) {
    id email name phone createdAt updatedAt
  }
}
"""


@pytest.mark.parametrize(
    ("limits", "document", "mentions"),
    [
        (QueryLimits(max_depth=4), DEEP_MUTATION, "depth"),
        (QueryLimits(max_aliases=2), ALIASED_MUTATION, "aliases"),
        (QueryLimits(max_tokens=20), LONG_MUTATION, "tokens"),
    ],
    ids=["depth", "aliases", "tokens"],
)
async def test_a_document_over_a_query_limit_is_refused_before_any_resolver_runs(
    make_client: Callable[..., Any], database_url: str, limits: QueryLimits, document: str, mentions: str
) -> None:
    client: Client = await make_client(database_url, limits=limits)
    response = await client.post(document)
    assert response.status_code == 200, response.text
    assert "data" not in response.json()
    error = only_error(response)
    assert error["errorType"] == "QueryLimitExceeded"
    assert mentions in error["message"]

    strict = await client.post(document, headers={"accept": GRAPHQL_RESPONSE})
    assert_request_error(strict, 400, "QueryLimitExceeded")
    assert await customer_count(client) == 0


async def test_introspection_can_be_turned_off(sqlite: Callable[..., Any]) -> None:
    client = await sqlite(limits=QueryLimits(introspection=False))
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Customer") { name } }'):
        response = await client.post(query, headers={"accept": GRAPHQL_RESPONSE})
        error = assert_request_error(response, 400, "ValidationError")
        assert error["message"] == "GraphQL introspection is not allowed"
        assert error["locations"] == [{"line": 1, "column": 3, "sourceName": None}]
    assert await client.data("{ __typename }") == {"__typename": "Query"}


async def test_introspection_is_on_by_default(http: Client) -> None:
    data = await http.data('{ __type(name: "Customer") { name } }')
    assert data == {"__type": {"name": "Customer"}}


# -- GraphiQL -------------------------------------------------------------------------------------


async def test_a_browser_get_without_a_query_gets_graphiql_without_an_api_key(http: Client) -> None:
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = await http.http.get("/graphql", headers={"accept": browser_accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_a_browser_get_with_a_query_still_needs_an_api_key(http: Client) -> None:
    response = await http.http.get("/graphql", params={"query": "{ __typename }"}, headers={"accept": "*/*"})
    assert_request_error(response, 401, "UnauthorizedException")


# -- error details --------------------------------------------------------------------------------


async def test_parse_and_validation_errors_give_the_line_and_column(http: Client) -> None:
    parse = only_error(await post_json(http, {"query": "{\n  customer(\n}"}))
    assert parse["errorType"] == "MalformedHttpRequestException"
    assert parse["locations"] == [{"line": 3, "column": 1, "sourceName": None}]
    assert parse["path"] is None

    invalid = only_error(await post_json(http, {"query": "query {\n  __typename\n    noSuchField\n}"}))
    assert invalid["errorType"] == "ValidationError"
    assert invalid["locations"] == [{"line": 3, "column": 5, "sourceName": None}]
    assert "noSuchField" in invalid["message"]


async def test_the_server_keeps_serving_after_each_bad_request(http: Client) -> None:
    bad_requests: list[Callable[[], Any]] = [
        lambda: post_raw(http, b'{"query": '),
        lambda: post_raw(http, b"{}", content_type="text/plain"),
        lambda: post_json(http, {"query": "{"}),
        lambda: post_json(http, {"query": "{ noSuchField }"}, {"accept": GRAPHQL_RESPONSE}),
        lambda: post_json(http, {"query": "{ __typename }", "variables": [1]}),
        lambda: post_json(http, [{"query": "{ __typename }"}] * 50),
        lambda: post_json(http, {"query": "{ __typename }"}, {"accept": "text/plain"}),
        lambda: http.post("{ __typename }", key="da2-wrong"),
        lambda: http.http.get("/graphql", params={"query": "mutation { __typename }"}, headers=KEY),
        lambda: http.http.delete("/graphql", headers=KEY),
    ]
    for send in bad_requests:
        response = await send()
        assert 400 <= response.status_code < 500 or response.json().get("errors"), response.text
        await assert_still_serving(http)


async def test_a_resolver_error_from_util_error_surfaces_its_message_type_info_and_data(tiny: Client) -> None:
    response = await tiny.post("{ hello refused }")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"hello": "world", "refused": None}
    error = only_error(response)
    assert error == {
        "message": "Shelf 7 is locked",
        "errorType": "ShelfLocked",
        "errorInfo": {"retryAfterSeconds": 30},
        "data": {"shelf": 7},
        "path": ["refused"],
        "locations": [{"line": 1, "column": 9, "sourceName": None}],
    }


async def test_the_demo_order_summary_reports_an_unknown_order_as_not_found(demo: Client) -> None:
    response = await demo.post('query { orderSummary(orderId: "no-such-order") { orderId totalCents } }')
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"orderSummary": None}
    error = only_error(response)
    assert error["errorType"] == "NotFound", error
    assert error["message"] == "Order no-such-order not found"
    assert error["path"] == ["orderSummary"]


async def test_an_unexpected_resolver_exception_is_an_internal_failure_without_details(
    tiny: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await tiny.post("{ hello boom }")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"hello": "world", "boom": None}
    error = only_error(response)
    assert error["message"] == "An internal error occurred"
    assert error["errorType"] == "InternalFailure"
    assert error["path"] == ["boom"]
    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text
    assert "secret detail" in caplog.text  # the operator still sees it in the log


async def test_a_failure_inside_trellis_is_a_500_internal_failure_in_appsyncs_shape(
    http: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("executor secret")

    monkeypatch.setattr(http.runtime.executor, "execute", broken)
    response = await http.post("{ __typename }")
    error = assert_request_error(response, 500, "InternalFailure")
    assert error["message"] == "An internal error occurred"
    assert "executor secret" not in response.text
    assert "executor secret" in caplog.text
    monkeypatch.undo()
    await assert_still_serving(http)


# -- operational endpoints ------------------------------------------------------------------------


async def test_health_and_ready_answer_without_an_api_key(demo: Client) -> None:
    health = await demo.http.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await demo.http.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_metrics_count_graphql_requests_by_type_and_status(http: Client) -> None:
    await http.data("{ __typename }")
    await post_json(http, {"query": "{ noSuchField }"}, {"accept": GRAPHQL_RESPONSE})
    response = await http.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'trellis_graphql_requests_total{operation_type="query",status="200"} 1.0' in text
    assert 'trellis_graphql_requests_total{operation_type="invalid",status="400"} 1.0' in text
    assert 'trellis_graphql_errors_total{error_type="ValidationError"} 1.0' in text
    assert "trellis_graphql_request_seconds" in text
