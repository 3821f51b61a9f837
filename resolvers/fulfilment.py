"""The demo's order fulfilment: ``placeOrder`` and the function the workflow calls.

``placeOrder`` (bound in ``trellis.toml``) writes the order and its lines at catalogue prices and
starts the ``fulfilment`` state machine (``fulfilment.asl.json``) through the ``workflows`` data
source, naming the execution after the order — so placing the same order twice cannot run it
twice. The workflow then does the rest in the database (reserve, approve, pick, ship) and calls
``pick_line`` (the ``pickLine`` function data source) once per line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasources.base import Invocation
from resolvers import util
from resolvers.context import ResolverContext
from resolvers.model.match import matches

STATE_MACHINE = "fulfilment"
MAX_LINES = 100


async def place_order(ctx: ResolverContext) -> dict[str, Any]:
    store = ctx.scope.runtime.store
    if store is None:
        util.error("The schema has no @model types", "ConfigError")
    request = ctx.arguments["input"]
    lines = _checked_lines(request["items"])
    customer = await store.get("Customer", {"id": request["customerId"]})
    if customer is None or not _may_read(ctx, "Customer", customer):
        # The same answer for "absent" and "someone else's": an id reveals nothing.
        util.error(f"Customer {request['customerId']} not found", "NotFound")
    found = await store.load_by("Product", ["id"], [(line["productId"],) for line in lines])
    products = {key[0]: rows[0] for key, rows in found.items() if rows}
    for line in lines:
        product = products.get(line["productId"])
        if product is None or product.get("active") is False:
            util.error(f"Product {line['productId']} is not for sale", "NotFound")

    owner = {"owner": customer.get("owner")} if "owner" in store.models["Order"].fields else {}
    order = await store.create("Order", {**owner, "customerId": customer["id"], "status": "PENDING",
                                         "placedAt": util.now_iso8601(), "notes": request.get("notes")})
    items = []
    for line in lines:
        item = await store.create("LineItem", {**owner, "orderId": order["id"], "productId": line["productId"],
                                               "quantity": line["quantity"],
                                               "unitPriceCents": products[line["productId"]]["priceCents"]})
        items.append(item)
    for listener in ctx.scope.runtime.change_listeners:  # onCreateOrder subscribers hear of it
        await listener("createOrder", "Order", order)

    workflow_input = {
        "orderId": order["id"],
        "customerId": customer["id"],
        "totalCents": sum(item["quantity"] * item["unitPriceCents"] for item in items),
        "items": [{"lineItemId": i["id"], "productId": i["productId"], "quantity": i["quantity"]} for i in items],
    }
    execution = await ctx.datasource("workflows").invoke(Invocation(request={
        "operation": "StartExecution", "stateMachine": STATE_MACHINE, "name": order["id"], "input": workflow_input,
    }))
    return {"order": order, "executionArn": execution["executionArn"]}


def _checked_lines(items: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if not items or len(items) > MAX_LINES:
        util.error(f"An order has 1 to {MAX_LINES} lines", "ValidationError")
    seen = set()
    for line in items:
        if line["quantity"] <= 0:
            util.error("quantity must be positive", "ValidationError")
        if line["productId"] in seen:
            util.error(f"Product {line['productId']} is on two lines: give its total quantity once",
                       "ValidationError")
        seen.add(line["productId"])
    return items


def _may_read(ctx: ResolverContext, model: str, item: Mapping[str, Any]) -> bool:
    """The model's own @auth rules decide: a customer orders for their own record, staff and the
    back office for anyone their rules let them read."""
    store = ctx.scope.runtime.store
    assert store is not None
    rules = store.models[model].auth
    if rules is None:
        return True
    access = rules.access(ctx.scope.caller, "get")
    return access.allowed and (access.predicate is None or matches(item, access.predicate))


class ScannerBusy(Exception):
    """The handheld scanner dropped a scan: the workflow's Retry on ``ScannerBusy`` scans again."""


def pick_line(event: Mapping[str, Any]) -> dict[str, Any]:
    """``pickLine``: pick one reserved line. The demo's scanner always drops the first scan of a line
    (``attempt`` is ``$$.State.RetryCount``), so every pick shows the workflow's Retry at work."""
    line = event["line"]
    if event.get("attempt", 0) == 0:
        raise ScannerBusy(f"scanner busy while picking line {line['lineItemId']}")
    return {"lineItemId": line["lineItemId"], "bin": f"{line['warehouseId']}/{str(line['productId'])[:8]}"}
