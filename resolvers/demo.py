"""Resolver functions of the demo app (bound in ``trellis.toml``).

They show the three resolver styles: a pipeline of SQL functions, a unit resolver over the
``sql`` source with a parameterised statement, and a direct Lambda-style function source.
"""

from __future__ import annotations

from typing import Any

from resolvers import util
from resolvers.context import ResolverContext

# -- orderSummary: before → loadOrder → totalLines → after -------------------------------------


def summary_before(ctx: ResolverContext) -> dict[str, Any]:
    ctx.stash["orderId"] = ctx.arguments["orderId"]
    return {}


def load_order_request(ctx: ResolverContext) -> dict[str, Any]:
    return {"sql": 'SELECT "id", "status" FROM "Order" WHERE "id" = :id', "variables": {"id": ctx.stash["orderId"]}}


def load_order_response(ctx: ResolverContext) -> Any:
    if not ctx.result:
        util.error(f"Order {ctx.stash['orderId']} not found", "NotFound")
    ctx.stash["status"] = ctx.result[0]["status"]
    return ctx.result[0]


def total_lines_request(ctx: ResolverContext) -> dict[str, Any]:
    return {
        "sql": 'SELECT COUNT(*) AS "itemCount", COALESCE(SUM("quantity" * "unitPriceCents"), 0) AS "totalCents" '
        'FROM "LineItem" WHERE "orderId" = :id',
        "variables": {"id": ctx.stash["orderId"]},
    }


def summary_after(ctx: ResolverContext) -> dict[str, Any]:
    row = ctx.prev.result[0]
    return {
        "orderId": ctx.stash["orderId"],
        "itemCount": int(row["itemCount"]),
        "totalCents": int(row["totalCents"]),
        "status": ctx.stash["status"],
    }


# -- warehouseStock: one parameterised SQL statement (the "warehouse view") ---------------------


def warehouse_stock_request(ctx: ResolverContext) -> dict[str, Any]:
    return {
        "sql": 'SELECT p."id" AS "productId", p."sku" AS "sku", p."name" AS "name", s."onHand" AS "onHand", '
        's."reserved" AS "reserved", s."onHand" - s."reserved" AS "available" '
        'FROM "StockLevel" s JOIN "Product" p ON p."id" = s."productId" '
        'WHERE s."warehouseId" = :warehouseId ORDER BY p."sku"',
        "variables": {"warehouseId": ctx.arguments["warehouseId"]},
    }


# -- shippingQuote: a Lambda-style handler receiving AppSync's event ----------------------------


def quote_shipping(event: dict[str, Any]) -> dict[str, Any]:
    args = event["arguments"]
    grams = args["weightGrams"]
    if grams <= 0:
        raise ValueError("weightGrams must be positive")
    remote = str(args["postcode"]).upper().startswith(("HS", "ZE", "KW"))
    return {
        "carrier": "Highland Post" if remote else "Parcel Express",
        "priceCents": 450 + (grams // 500) * 120 + (900 if remote else 0),
        "estimatedDays": 4 if remote else 2,
    }
