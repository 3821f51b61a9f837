"""Unit, pipeline and direct function resolvers with the AppSync-shaped context."""

from __future__ import annotations

from typing import Any

from resolvers import util

CAPTURED: list[Any] = []


def capture_context(ctx):
    CAPTURED.append(
        {
            "arguments": ctx.arguments,
            "selection": ctx.info.selection_set_list,
            "parent": ctx.info.parent_type_name,
            "field": ctx.info.field_name,
            "header": ctx.request.headers.get("x-demo"),
            "identity": ctx.identity,
        }
    )
    return {"name": ctx.arguments["name"], "child": {"name": "c"}}


def lambda_handler(event):
    CAPTURED.append(event)
    return {"name": event["arguments"]["name"], "child": None}


def failing(ctx):
    util.error("Nope", "Custom:Refused", data={"why": 1}, error_info={"hint": "x"})


def stash_writer(ctx):
    ctx.stash["seen"] = ["before"]
    return {"start": True}


def step_request(ctx):
    ctx.stash["seen"].append(f"request:{ctx.prev.result}")
    return {"payload": {"n": len(ctx.stash["seen"])}}


def step_response(ctx):
    return ctx.result


def after(ctx):
    return {"name": "|".join(ctx.stash["seen"]) + f"|n={ctx.prev.result['n']}", "child": None}


def appends(ctx):
    ctx.append_error("partial", "Partial")
    return {"name": "kept", "child": None}


SCHEMA = """
type Node { name: String, child: Node }
type Query {
  direct(name: String!): Node
  viaLambda(name: String!): Node
  failing: Node
  pipeline: Node
  partial: Node
}
"""

CONFIG = """
[datasources.fn]
kind = "function"
handler = "tests.test_resolvers:lambda_handler"

[datasources.echo]
kind = "none"

[functions.step1]
datasource = "echo"
request = "tests.test_resolvers:step_request"
response = "tests.test_resolvers:step_response"

[functions.step2]
datasource = "echo"
request = "tests.test_resolvers:step_request"

[resolvers."Query.direct"]
handler = "tests.test_resolvers:capture_context"

[resolvers."Query.viaLambda"]
datasource = "fn"

[resolvers."Query.failing"]
handler = "tests.test_resolvers:failing"

[resolvers."Query.pipeline"]
functions = ["step1", "step2"]
before = "tests.test_resolvers:stash_writer"
after = "tests.test_resolvers:after"

[resolvers."Query.partial"]
handler = "tests.test_resolvers:appends"
"""


async def make(make_client, tmp_path):
    return await make_client(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", schema=SCHEMA, config=CONFIG)


async def test_a_python_resolver_sees_arguments_info_and_request_headers(make_client, tmp_path):
    client = await make(make_client, tmp_path)
    CAPTURED.clear()
    response = await client.post(
        'query { direct(name: "a") { name child { name } ...F } } fragment F on Node { alias: name }',
        headers={"x-demo": "yes"},
    )
    assert response.json()["data"]["direct"] == {"name": "a", "child": {"name": "c"}, "alias": "a"}
    seen = CAPTURED[-1]
    assert seen["arguments"] == {"name": "a"}
    assert seen["selection"] == ["name", "child", "child/name", "alias"]
    assert (seen["parent"], seen["field"]) == ("Query", "direct")
    assert seen["header"] == "yes"
    assert seen["identity"] is None  # API_KEY requests carry no identity, as on AppSync


async def test_a_function_data_source_receives_appsyncs_lambda_event(make_client, tmp_path):
    client = await make(make_client, tmp_path)
    CAPTURED.clear()
    data = await client.data('query Q { viaLambda(name: "z") { name } }')
    assert data == {"viaLambda": {"name": "z"}}
    event = CAPTURED[-1]
    assert set(event) == {"arguments", "identity", "source", "request", "info", "prev", "stash"}
    assert event["info"]["fieldName"] == "viaLambda"
    assert event["info"]["parentTypeName"] == "Query"
    assert event["info"]["selectionSetList"] == ["name"]
    assert "x-api-key" in event["request"]["headers"]


async def test_util_error_reaches_the_client_in_appsync_shape(make_client, tmp_path):
    client = await make(make_client, tmp_path)
    body = await client.gql("{ failing { name } }")
    assert body["data"] == {"failing": None}
    error = body["errors"][0]
    assert error["message"] == "Nope"
    assert error["errorType"] == "Custom:Refused"
    assert error["data"] == {"why": 1}
    assert error["errorInfo"] == {"hint": "x"}
    assert error["path"] == ["failing"]
    assert error["locations"] == [{"line": 1, "column": 3, "sourceName": None}]


async def test_a_pipeline_runs_before_functions_and_after_with_a_shared_stash(make_client, tmp_path):
    client = await make(make_client, tmp_path)
    data = await client.data("{ pipeline { name } }")
    assert data["pipeline"]["name"] == "before|request:{'start': True}|request:{'n': 2}|n=3"


async def test_append_error_reports_without_stopping_the_resolver(make_client, tmp_path):
    client = await make(make_client, tmp_path)
    body = await client.gql("{ partial { name } }")
    assert body["data"] == {"partial": {"name": "kept"}}
    assert body["errors"][0]["errorType"] == "Partial"


async def test_demo_pipeline_resolver_totals_an_order(demo):
    store = demo.runtime.resolvers.store
    order = await store.create("Order", {"customerId": "c", "placedAt": "2026-01-01T00:00:00.000Z"})
    for quantity, price in ((2, 150), (1, 1000)):
        await store.create("LineItem", {"orderId": order["id"], "productId": "p", "quantity": quantity,
                                        "unitPriceCents": price})
    data = await demo.data("query($o: ID!) { orderSummary(orderId: $o) { orderId itemCount totalCents status } }",
                           {"o": order["id"]})
    assert data["orderSummary"] == {"orderId": order["id"], "itemCount": 2, "totalCents": 1300, "status": "PENDING"}
    missing = await demo.gql('{ orderSummary(orderId: "nope") { orderId } }')
    assert missing["errors"][0]["errorType"] == "NotFound"


async def test_demo_warehouse_view_is_one_parameterised_statement(demo):
    store = demo.runtime.resolvers.store
    for sku in ("B", "A"):
        product = await store.create("Product", {"sku": sku, "name": sku.lower(), "priceCents": 1})
        await store.create("StockLevel", {"warehouseId": "w1", "productId": product["id"], "onHand": 10, "reserved": 3})
    data = await demo.data('{ warehouseStock(warehouseId: "w1") { sku onHand reserved available } }')
    assert data["warehouseStock"] == [
        {"sku": "A", "onHand": 10, "reserved": 3, "available": 7},
        {"sku": "B", "onHand": 10, "reserved": 3, "available": 7},
    ]
    # A hostile argument is a bound value, never SQL.
    hostile = await demo.data("""{ warehouseStock(warehouseId: "w1' OR '1'='1") { sku } }""")
    assert hostile["warehouseStock"] == []


async def test_demo_shipping_quote_runs_a_lambda_style_function(demo):
    data = await demo.data('{ shippingQuote(postcode: "HS1 2AB", weightGrams: 1200) { carrier priceCents estimatedDays } }')
    assert data["shippingQuote"] == {"carrier": "Highland Post", "priceCents": 450 + 2 * 120 + 900, "estimatedDays": 4}
    bad = await demo.gql('{ shippingQuote(postcode: "LS1", weightGrams: 0) { carrier } }')
    assert bad["errors"][0]["errorType"] == "Lambda:Unhandled"
    assert "weightGrams must be positive" in bad["errors"][0]["message"]


SQL_SCHEMA = """
type Row { n: Int, label: String }
type Query { rows(min: Int!): [Row] }
type Mutation { addRow(n: Int!, label: String!): [Row] }
"""


def rows_request(ctx):
    return {"sql": "SELECT n, label FROM numbers WHERE n >= :min ORDER BY n", "variables": ctx.arguments}


def add_request(ctx):
    return {
        "statements": [
            "CREATE TABLE IF NOT EXISTS numbers (n INTEGER, label TEXT)",
            "INSERT INTO numbers (n, label) VALUES (:n, :label)",
            "SELECT n, label FROM numbers ORDER BY n",
        ],
        "variables": ctx.arguments,
    }


def broken_request(ctx):
    return {"sql": "SELECT :missing", "variables": {}}


async def test_a_configured_sql_data_source_runs_parameterised_statements(make_client, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    config = (
        f'[datasources.numbers]\nkind = "sql"\nurl = "{url}"\n'
        '[resolvers."Query.rows"]\ndatasource = "numbers"\nrequest = "tests.test_resolvers:rows_request"\n'
        '[resolvers."Mutation.addRow"]\ndatasource = "numbers"\nrequest = "tests.test_resolvers:add_request"\n'
    )
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'main.db'}", schema=SQL_SCHEMA, config=config)
    for n, label in ((1, "one"), (2, "two'; DROP TABLE numbers; --")):
        await client.data("mutation($n: Int!, $l: String!) { addRow(n: $n, label: $l) { n } }", {"n": n, "l": label})
    data = await client.data("{ rows(min: 2) { n label } }")
    assert data["rows"] == [{"n": 2, "label": "two'; DROP TABLE numbers; --"}]


async def test_a_sql_request_without_a_value_for_a_parameter_is_refused(make_client, tmp_path):
    config = '[resolvers."Query.rows"]\ndatasource = "default"\nrequest = "tests.test_resolvers:broken_request"\n'
    client = await make_client(f"sqlite+aiosqlite:///{tmp_path / 'main.db'}", schema=SQL_SCHEMA, config=config)
    body = await client.gql("{ rows(min: 1) { n } }")
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert ":missing" in body["errors"][0]["message"]
