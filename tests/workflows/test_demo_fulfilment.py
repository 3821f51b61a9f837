"""The demo's order fulfilment, served: real clients place orders with ``placeOrder`` and follow the
``fulfilment`` workflow (fulfilment.asl.json) — reservation, approval of large orders by staff,
the picking wave, picks retried past a busy scanner, shipping, and compensation when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError

from app.server import create_app
from auth.userpool.config import default_client_id
from tests.conftest import DEMO_ADMIN, DEMO_REGION, PG_URL, _reset_postgres, sigv4_headers
from tests.workflows.graphql_support import (
    DEMO_CONFIG,
    DEMO_SCHEMA,
    served,
    subscription_count,
    wait_for_subscriptions,
    workflow_settings,
)

pytestmark = pytest.mark.timeout(60)

POOL_ID = "us-east-1_Trellis1"  # trellis.toml
PASSWORD = "Sh0p-Passw0rd!"
LARGE_ORDER_CENTS = 50_000  # fulfilment.asl.json's LargeOrder? choice

PLACE_ORDER = gql("""
mutation($c: ID!, $items: [PlaceOrderItemInput!]!) {
  placeOrder(input: {customerId: $c, items: $items}) { executionArn order { id status } }
}""")
EXECUTION = gql("query($a: ID!) { execution(executionArn: $a) { status output error cause } }")
STATUS = gql("subscription($a: ID!) { onExecutionStatusChanged(executionArn: $a) { status output error cause } }")


def user_token(base: str, username: str, group: str | None = None) -> str:
    """A user of the demo's pool (created by the back office, in ``group``), signed in: their IdToken."""
    session = botocore.session.get_session()
    admin = session.create_client("cognito-idp", endpoint_url=base, region_name=DEMO_REGION,
                                  aws_access_key_id=DEMO_ADMIN[0], aws_secret_access_key=DEMO_ADMIN[1])
    admin.admin_create_user(UserPoolId=POOL_ID, Username=username, MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}])
    admin.admin_set_user_password(UserPoolId=POOL_ID, Username=username, Password=PASSWORD, Permanent=True)
    if group is not None:
        with contextlib.suppress(admin.exceptions.GroupExistsException):
            admin.create_group(UserPoolId=POOL_ID, GroupName=group)
        admin.admin_add_user_to_group(UserPoolId=POOL_ID, Username=username, GroupName=group)
    answer = admin.initiate_auth(ClientId=default_client_id(POOL_ID), AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    return str(answer["AuthenticationResult"]["IdToken"])


@contextlib.contextmanager
def served_demo(folder: Path, url: str) -> Iterator[tuple[str, Any]]:
    settings = workflow_settings(folder, url, None, schema=DEMO_SCHEMA, config=DEMO_CONFIG,
                                 admin_access_key=DEMO_ADMIN)
    app = create_app(settings)
    with served(app) as base:
        yield base, app


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    folder = tmp_path_factory.mktemp("fulfilment")
    with served_demo(folder, f"sqlite+aiosqlite:///{folder / 'demo.db'}") as served_app:
        yield served_app


@pytest.fixture(scope="module")
def demo_on_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The workflow's SQL (fulfilment.asl.json) runs on PostgreSQL as well."""
    with ThreadPoolExecutor(max_workers=1) as thread:  # the test's event loop may be running here
        thread.submit(asyncio.run, _reset_postgres()).result()
    with served_demo(tmp_path_factory.mktemp("fulfilment_pg"), PG_URL) as served_app:
        yield served_app


def iam_client(base: str) -> Client:
    host = base.removeprefix("http://")
    auth = AppSyncIAMAuthentication(host=host, region_name=DEMO_REGION, credentials=Credentials(*DEMO_ADMIN))
    return Client(transport=AIOHTTPTransport(url=f"{base}/graphql", auth=auth))


def token_client(base: str, token: str) -> Client:
    return Client(transport=AIOHTTPTransport(url=f"{base}/graphql", headers={"Authorization": token}))


async def run(session: Any, document: Any, **variables: Any) -> dict[str, Any]:
    document.variable_values = variables
    result: dict[str, Any] = await session.execute(document)
    return result


async def stock_up(office: Any) -> dict[str, str]:
    """A warehouse with kettles (plenty), televisions (a few) and a customer; their ids."""
    made = await office.execute(gql("""mutation {
      w: createWarehouse(input: {code: "EDI", name: "Edinburgh"}) { id }
      kettle: createProduct(input: {sku: "K-1", name: "Kettle", priceCents: 2500}) { id }
      tv: createProduct(input: {sku: "TV-1", name: "Television", priceCents: 90000}) { id }
      customer: createCustomer(input: {email: "dana@example.com", name: "Dana"}) { id }
    }"""))
    ids = {key: value["id"] for key, value in made.items()}
    await run(office, gql("""mutation($w: ID!, $k: ID!, $t: ID!) {
      a: createStockLevel(input: {warehouseId: $w, productId: $k, onHand: 10}) { onHand }
      b: createStockLevel(input: {warehouseId: $w, productId: $t, onHand: 3}) { onHand }
    }"""), w=ids["w"], k=ids["kettle"], t=ids["tv"])
    return ids


async def finished(session: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        execution: dict[str, Any] = (await run(session, EXECUTION, a=arn))["execution"]
        if execution["status"] != "RUNNING":
            return execution
        assert time.monotonic() < deadline, f"{arn} is still RUNNING"
        await asyncio.sleep(0.1)


async def stock(office: Any, warehouse: str) -> dict[str, tuple[int, int]]:
    rows = await run(office, gql("query($w: ID!) { warehouseStock(warehouseId: $w) { sku onHand reserved } }"),
                     w=warehouse)
    return {row["sku"]: (row["onHand"], row["reserved"]) for row in rows["warehouseStock"]}


async def watch_until_it_ends(watcher: Any, arn: str) -> dict[str, Any]:
    STATUS.variable_values = {"a": arn}
    async for change in watcher.subscribe(STATUS):
        if change["onExecutionStatusChanged"]["status"] != "RUNNING":
            return dict(change["onExecutionStatusChanged"])
    raise AssertionError("the subscription ended without a final status")


async def follow_order_updates(watcher: Any, moves: dict[str, list[str]]) -> None:
    async for change in watcher.subscribe(gql("subscription { onUpdateOrder { id status } }")):
        moves.setdefault(change["onUpdateOrder"]["id"], []).append(change["onUpdateOrder"]["status"])


async def answer_approvals(staff: Any, customer: Any, decisions: dict[str, bool]) -> None:
    """Staff list the pending approvals and answer each order's; the customer may not answer."""
    pending: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while set(pending) != set(decisions):
        approvals = await staff.execute(gql("{ listApprovals(filter: {status: {eq: PENDING}}) "
                                            "{ items { orderId taskToken totalCents } } }"))
        pending = {a["orderId"]: a["taskToken"] for a in approvals["listApprovals"]["items"]}
        assert time.monotonic() < deadline, f"approvals pending: {pending}"
        await asyncio.sleep(0.05)
    answer = gql("mutation($t: String!, $o: AWSJSON!) { sendTaskSuccess(taskToken: $t, output: $o) }")
    for order_id, approved in decisions.items():
        output = json.dumps({"approved": approved})
        with pytest.raises(TransportQueryError) as refused:
            await run(customer, answer, t=pending[order_id], o=output)
        assert refused.value.errors is not None and refused.value.errors[0]["errorType"] == "Unauthorized"
        assert await run(staff, answer, t=pending[order_id], o=output) == {"sendTaskSuccess": True}


@pytest.mark.parametrize("server", ["demo", pytest.param("demo_on_postgres", marks=pytest.mark.postgres)])
async def test_orders_are_reserved_approved_picked_and_shipped_or_cancelled_with_their_stock_released(request, server):
    base, app = request.getfixturevalue(server)
    host = base.removeprefix("http://")
    staff_token = await asyncio.to_thread(user_token, base, "sam", "staff")
    customer_token = await asyncio.to_thread(user_token, base, "dana")
    auth = AppSyncIAMAuthentication(host=host, region_name=DEMO_REGION, credentials=Credentials(*DEMO_ADMIN))
    realtime = AppSyncWebsocketsTransport(url=f"ws://{host}/graphql/realtime", auth=auth)
    async with iam_client(base) as office, Client(transport=realtime) as watcher, \
            token_client(base, staff_token) as staff, token_client(base, customer_token) as customer:
        ids = await stock_up(office)
        # Status changes the workflow makes (trellis:graphql as its role) reach onUpdateOrder subscribers.
        moves: dict[str, list[str]] = {}
        before = subscription_count(app)
        following = asyncio.ensure_future(follow_order_updates(watcher, moves))
        await wait_for_subscriptions(app, before + 1)
        small = (await run(office, PLACE_ORDER, c=ids["customer"],
                           items=[{"productId": ids["kettle"], "quantity": 2}]))["placeOrder"]
        assert small["order"]["status"] == "PENDING"
        assert small["executionArn"].endswith(f":execution:fulfilment:{small['order']['id']}")
        # The back office watches the small order over AppSync's real-time protocol.
        before = subscription_count(app)
        watching = asyncio.ensure_future(watch_until_it_ends(watcher, small["executionArn"]))
        await wait_for_subscriptions(app, before + 1)
        # Orders of 500.00 or more wait for staff; a line no warehouse can fill cancels its order.
        large = (await run(office, PLACE_ORDER, c=ids["customer"],
                           items=[{"productId": ids["tv"], "quantity": 1}]))["placeOrder"]
        rejected = (await run(office, PLACE_ORDER, c=ids["customer"],
                              items=[{"productId": ids["tv"], "quantity": 2}]))["placeOrder"]
        too_many = (await run(office, PLACE_ORDER, c=ids["customer"],
                              items=[{"productId": ids["kettle"], "quantity": 50}]))["placeOrder"]
        await answer_approvals(staff, customer, {large["order"]["id"]: True, rejected["order"]["id"]: False})

        # The small order was placed before its subscription started: only a very quick run ends unseen.
        if (await run(office, EXECUTION, a=small["executionArn"]))["execution"]["status"] == "RUNNING":
            ended = await asyncio.wait_for(watching, 30)
        else:
            watching.cancel()
            ended = await finished(office, small["executionArn"])
        approved = await finished(office, large["executionArn"])
        turned_down = await finished(office, rejected["executionArn"])
        out_of_stock = await finished(office, too_many["executionArn"])
        history = await run(office, gql("query($a: ID!) { executionHistory(executionArn: $a, limit: 1000) "
                                        "{ events { type details } } }"), a=small["executionArn"])
        approvals = await staff.execute(gql("{ listApprovals { items { orderId status } } }"))
        orders = await office.execute(gql("{ listOrders { items { id status } } }"))
        levels = await stock(office, ids["w"])
        deadline = time.monotonic() + 10
        while any(not moves.get(o["id"]) or moves[o["id"]][-1] not in ("SHIPPED", "CANCELLED")
                  for o in orders["listOrders"]["items"]):
            assert time.monotonic() < deadline, moves
            await asyncio.sleep(0.05)
        following.cancel()

    assert moves == {small["order"]["id"]: ["PICKING", "SHIPPED"], large["order"]["id"]: ["PICKING", "SHIPPED"],
                     rejected["order"]["id"]: ["CANCELLED"], too_many["order"]["id"]: ["CANCELLED"]}
    assert ended["status"] == "SUCCEEDED", ended
    shipped = json.loads(ended["output"])
    assert shipped["status"] == "SHIPPED" and shipped["orderId"] == small["order"]["id"]
    assert len(shipped["picked"]) == 1
    events = history["executionHistory"]["events"]
    types = [e["type"] for e in events]
    assert "WaitStateEntered" in types and types[-1] == "ExecutionSucceeded"  # the picking wave
    failures = [json.loads(e["details"])["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["ScannerBusy"]  # the first scan; the Retry's scan worked
    assert types.count("MapIterationSucceeded") == 2  # one line reserved, then picked

    assert approved["status"] == "SUCCEEDED" and json.loads(approved["output"])["status"] == "SHIPPED"
    assert (turned_down["status"], turned_down["error"], turned_down["cause"]) == (
        "FAILED", "ApprovalRejected", "Staff rejected the order")
    assert (out_of_stock["status"], out_of_stock["error"]) == ("FAILED", "OutOfStock")
    assert {a["orderId"]: a["status"] for a in approvals["listApprovals"]["items"]} == {
        large["order"]["id"]: "APPROVED", rejected["order"]["id"]: "REJECTED"}
    assert {o["id"]: o["status"] for o in orders["listOrders"]["items"]} == {
        small["order"]["id"]: "SHIPPED", large["order"]["id"]: "SHIPPED",
        rejected["order"]["id"]: "CANCELLED", too_many["order"]["id"]: "CANCELLED"}
    # Shipped lines left the warehouse; cancelled orders gave their reservations back.
    assert levels == {"K-1": (8, 0), "TV-1": (2, 0)}


def botocore_graphql(base: str) -> Any:
    """GraphQL over HTTP, SigV4-signed as the back office's administrator; returns ``data``."""
    def call(query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        answer = httpx.post(f"{base}/graphql", content=body,
                            headers=sigv4_headers(f"{base}/graphql", body, DEMO_ADMIN)).json()
        assert not answer.get("errors"), answer["errors"]
        data: dict[str, Any] = answer["data"]
        return data
    return call


def test_the_order_moves_are_safe_to_repeat_after_a_crash(demo):
    """A request/response Task in flight at a crash runs again (at-least-once, as on AWS): marking an
    order SHIPPED twice must not fail (which would cancel a shipped order), and the conditions still
    refuse a move the order's state does not allow."""
    base, _app = demo
    definition = json.loads((Path(__file__).parents[2] / "fulfilment.asl.json").read_text())
    sfn = botocore.session.get_session().create_client(
        "stepfunctions", endpoint_url=base, region_name=DEMO_REGION, config=Config(inject_host_prefix=False),
        aws_access_key_id=DEMO_ADMIN[0], aws_secret_access_key=DEMO_ADMIN[1])
    role = "arn:aws:iam::123456789012:role/trellis-fulfilment"
    office = botocore_graphql(base)
    made = office('mutation { c: createCustomer(input: {email: "r@example.com", name: "R"}) { id } }')
    order = office('mutation($c: ID!) { createOrder(input: {customerId: $c, status: PICKING, '
                   'placedAt: "2026-01-01T00:00:00Z"}) { id } }', c=made["c"]["id"])["createOrder"]["id"]

    def run_state(name: str) -> dict[str, Any]:
        answer: dict[str, Any] = sfn.test_state(definition=json.dumps(definition["States"][name]), roleArn=role,
                                                input=json.dumps({"orderId": order}))
        return answer

    assert run_state("MarkShipped")["status"] == "SUCCEEDED"
    assert run_state("MarkShipped")["status"] == "SUCCEEDED"  # repeated: still fine
    refused = run_state("StartPicking")  # a shipped order does not go back to PICKING
    assert refused["status"] == "CAUGHT_ERROR" and "ConditionalCheckFailed" in refused["error"]  # its Catch applies
    assert office("query($id: ID!) { getOrder(id: $id) { status } }", id=order) == {"getOrder": {"status": "SHIPPED"}}


async def test_place_order_refuses_unknown_products_and_other_customers_records(demo):
    base, _app = demo
    async with iam_client(base) as office:
        made = await office.execute(gql('mutation { c: createCustomer(input: {email: "f@example.com", '
                                        'name: "Finn"}) { id } }'))
        with pytest.raises(TransportQueryError) as unknown:
            await run(office, PLACE_ORDER, c=made["c"]["id"], items=[{"productId": "no-such", "quantity": 1}])
    assert unknown.value.errors is not None and unknown.value.errors[0]["errorType"] == "NotFound"
    token = await asyncio.to_thread(user_token, base, "gail")
    async with token_client(base, token) as gail:
        with pytest.raises(TransportQueryError) as foreign:  # Finn's record was made by the back office
            await run(gail, PLACE_ORDER, c=made["c"]["id"], items=[{"productId": "x", "quantity": 1}])
    assert foreign.value.errors is not None and foreign.value.errors[0]["errorType"] == "NotFound"
