"""Relationships load in batches: statement counts stay flat however many parents there are."""

from __future__ import annotations

import re
from contextlib import contextmanager


@contextmanager
def counting_statements(client):
    statements: list[str] = []
    listeners = client.runtime.database.statement_listeners

    def capture(statement):
        # The workflow engine and queues poll their own tables in the background on the same database.
        if statement.lstrip().upper().startswith("SELECT") and not re.search(r"\b(sfn|sqs)_", statement):
            statements.append(statement)

    listeners.append(capture)
    try:
        yield statements
    finally:
        listeners.remove(capture)


async def seed_orders(client, orders: int, items_per_order: int) -> str:
    customer = await client.data('mutation { createCustomer(input: {email: "c@example.com", name: "C"}) { id } }')
    customer_id = customer["createCustomer"]["id"]
    products = []
    for n in range(3):
        created = await client.data(
            "mutation($s: String!) { createProduct(input: {sku: $s, name: $s, priceCents: 100}) { id } }",
            {"s": f"P-{n}"},
        )
        products.append(created["createProduct"]["id"])
    store = client.runtime.resolvers.store
    for n in range(orders):
        order = await store.create("Order", {"customerId": customer_id, "placedAt": f"2026-01-01T00:00:{n % 60:02d}.000Z"})
        for m in range(items_per_order):
            await store.create("LineItem", {"orderId": order["id"], "productId": products[m % 3], "quantity": m + 1,
                                            "unitPriceCents": 100})
    return customer_id


ORDERS_WITH_ITEMS = """{
  listOrders(limit: 1000) {
    items {
      id
      customer { name }
      items { items { quantity product { sku } } nextToken }
    }
  }
}"""


async def test_a_list_of_orders_with_items_and_products_costs_a_fixed_number_of_statements(demo):
    await seed_orders(demo, orders=100, items_per_order=3)
    with counting_statements(demo) as statements:
        data = await demo.data(ORDERS_WITH_ITEMS)
    orders = data["listOrders"]["items"]
    assert len(orders) == 100
    assert all(len(o["items"]["items"]) == 3 for o in orders)
    assert all(o["customer"]["name"] == "C" for o in orders)
    assert {i["product"]["sku"] for o in orders for i in o["items"]["items"]} == {"P-0", "P-1", "P-2"}
    # orders, their customers, their items, the items' products: one statement per level.
    assert len(statements) == 4, statements


async def test_statement_count_does_not_grow_with_the_number_of_parents(demo):
    await seed_orders(demo, orders=5, items_per_order=2)
    with counting_statements(demo) as few:
        await demo.data(ORDERS_WITH_ITEMS)
    await seed_orders(demo, orders=40, items_per_order=2)
    with counting_statements(demo) as many:
        await demo.data(ORDERS_WITH_ITEMS)
    assert len(few) == len(many)


async def test_has_many_pages_per_parent_with_limit_and_next_token(demo):
    customer_id = await seed_orders(demo, orders=2, items_per_order=5)
    data = await demo.data(
        "query($c: ID!) { getCustomer(id: $c) { orders { items { id items(limit: 2) { items { quantity } nextToken } } } } }",
        {"c": customer_id},
    )
    orders = data["getCustomer"]["orders"]["items"]
    assert len(orders) == 2
    for order in orders:
        first = order["items"]
        assert len(first["items"]) == 2
        assert first["nextToken"]
        rest = await demo.data(
            "query($o: ID!, $t: String) { getOrder(id: $o) { items(limit: 10, nextToken: $t) { items { quantity } nextToken } } }",
            {"o": order["id"], "t": first["nextToken"]},
        )
        assert len(rest["getOrder"]["items"]["items"]) == 3
        assert rest["getOrder"]["items"]["nextToken"] is None


async def test_has_many_filters_and_sorts_children(demo):
    await seed_orders(demo, orders=1, items_per_order=5)
    data = await demo.data(
        "{ listOrders { items { items(filter: {quantity: {ge: 3}}, sortDirection: DESC) { items { quantity } } } } }"
    )
    quantities = [i["quantity"] for i in data["listOrders"]["items"][0]["items"]["items"]]
    assert sorted(quantities) == [3, 4, 5]


async def test_index_query_by_customer_sorted_by_placed_at(demo):
    customer_id = await seed_orders(demo, orders=4, items_per_order=0)
    data = await demo.data(
        'query($c: ID!) { ordersByCustomer(customerId: $c, placedAt: {ge: "2026-01-01T00:00:02.000Z"}, '
        "sortDirection: DESC) { items { placedAt } } }",
        {"c": customer_id},
    )
    assert [o["placedAt"] for o in data["ordersByCustomer"]["items"]] == [
        "2026-01-01T00:00:03.000Z", "2026-01-01T00:00:02.000Z"
    ]


async def test_belongs_to_with_a_dangling_reference_is_null(demo):
    await demo.runtime.resolvers.store.create(
        "LineItem", {"orderId": "gone", "productId": "gone", "quantity": 1, "unitPriceCents": 1}
    )
    data = await demo.data("{ listLineItems { items { order { id } product { id } } } }")
    assert data["listLineItems"]["items"] == [{"order": None, "product": None}]


async def test_many_to_many_goes_through_a_generated_join_model(demo):
    product = (await demo.data('mutation { createProduct(input: {sku: "M-1", name: "Mallet", priceCents: 1}) { id } }'))[
        "createProduct"]["id"]
    tags = []
    for name in ("wood", "tool"):
        tags.append((await demo.data("mutation($n: String!) { createTag(input: {name: $n}) { id } }", {"n": name}))[
            "createTag"]["id"])
    for tag in tags:
        await demo.data("mutation($p: ID!, $t: ID!) { createProductTag(input: {productId: $p, tagId: $t}) { id } }",
                        {"p": product, "t": tag})
    data = await demo.data(
        "query($p: ID!) { getProduct(id: $p) { tags { items { tag { name products { items { product { sku } } } } } } } }",
        {"p": product},
    )
    links = data["getProduct"]["tags"]["items"]
    assert sorted(link["tag"]["name"] for link in links) == ["tool", "wood"]
    assert all(link["tag"]["products"]["items"] == [{"product": {"sku": "M-1"}}] for link in links)


async def test_warehouse_stock_levels_reach_products_both_ways(demo):
    warehouse = (await demo.data('mutation { createWarehouse(input: {code: "LDS", name: "Leeds"}) { id } }'))[
        "createWarehouse"]["id"]
    product = (await demo.data('mutation { createProduct(input: {sku: "W-1", name: "Widget", priceCents: 5}) { id } }'))[
        "createProduct"]["id"]
    await demo.data(
        "mutation($w: ID!, $p: ID!) { createStockLevel(input: {warehouseId: $w, productId: $p, onHand: 7, reserved: 2}) "
        "{ onHand } }",
        {"w": warehouse, "p": product},
    )
    data = await demo.data(
        "query($w: ID!) { getWarehouse(id: $w) { stock { items { onHand product { sku stock { items { warehouse { code } } } } } } } }",
        {"w": warehouse},
    )
    level = data["getWarehouse"]["stock"]["items"][0]
    assert level["onHand"] == 7
    assert level["product"]["sku"] == "W-1"
    assert level["product"]["stock"]["items"] == [{"warehouse": {"code": "LDS"}}]
